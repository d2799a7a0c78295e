// Sessions (tokens, expiry, CSRF) and the sign-in throttle.
#include <gtest/gtest.h>

#include <set>

#include "server/api/api.hpp"
#include "server/auth/login_throttle.hpp"
#include "server/auth/session_store.hpp"

using namespace keydesk::server;
using namespace std::chrono_literals;

TEST(Sessions, TokensAreRandomAndOpaque) {
    std::set<std::string> tokens;
    for (int i = 0; i < 1000; ++i) tokens.insert(random_token());
    EXPECT_EQ(tokens.size(), 1000u);
    for (const auto& token : tokens) {
        EXPECT_EQ(token.size(), 43u);  // 32 bytes, base64url
        EXPECT_EQ(token.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
                  std::string::npos);
    }
}

TEST(Sessions, CreateFindRemove) {
    SessionStore store(15min, 8h);
    StaffSession session;
    session.username = "helpdesk1";
    session.roles = RoleSet{Role::helpdesk};
    const auto token = store.create(session);
    const auto found = store.find(token);
    ASSERT_TRUE(found);
    EXPECT_EQ(found->username, "helpdesk1");
    EXPECT_EQ(found->csrf_token.size(), 43u);
    EXPECT_NE(found->csrf_token, token);
    EXPECT_FALSE(store.find(token + "x"));
    EXPECT_FALSE(store.find(""));
    store.remove(token);
    EXPECT_FALSE(store.find(token));
}

TEST(Sessions, ExpireWhenIdleAndWhenOld) {
    SessionStore store(15min, 1h);
    const auto token = store.create({});
    const auto now = SessionStore::Clock::now();
    EXPECT_TRUE(store.find(token, now + 14min));
    EXPECT_TRUE(store.find(token, now + 28min));  // the last find restarted the idle timer
    EXPECT_FALSE(store.find(token, now + 44min));
    const auto second = store.create({});
    for (auto at = 10min; at < 60min; at += 10min) EXPECT_TRUE(store.find(second, now + at));
    EXPECT_FALSE(store.find(second, now + 61min));  // active, but past its maximum age
}

TEST(Sessions, BoundedInNumber) {
    SessionStore store(15min, 1h, 3);
    std::vector<std::string> tokens;
    for (int i = 0; i < 5; ++i) tokens.push_back(store.create({}));
    EXPECT_EQ(store.size(), 3u);
    EXPECT_TRUE(store.find(tokens.back()));
}

TEST(Sessions, CsrfComparison) {
    EXPECT_TRUE(same_token("abc", "abc"));
    EXPECT_FALSE(same_token("abc", "abd"));
    EXPECT_FALSE(same_token("abc", "abcd"));
    EXPECT_FALSE(same_token("", ""));  // no session token means no match, ever
}

TEST(Cookies, FindsTheSessionCookie) {
    EXPECT_EQ(find_cookie("__Host-keydesk=abc", "__Host-keydesk"), "abc");
    EXPECT_EQ(find_cookie("a=1; __Host-keydesk=abc; b=2", "__Host-keydesk"), "abc");
    EXPECT_EQ(find_cookie("x__Host-keydesk=abc", "__Host-keydesk"), "");
    EXPECT_EQ(find_cookie("", "__Host-keydesk"), "");
    EXPECT_EQ(find_cookie(";;;", "__Host-keydesk"), "");
}

TEST(Throttle, BlocksAnAccountBeforeADWouldLockIt) {
    LoginThrottle throttle({.failures_per_account = 4, .failures_per_client = 100, .window = 900s});
    const auto now = LoginThrottle::Clock::now();
    for (int i = 0; i < 3; ++i) EXPECT_FALSE(throttle.begin_attempt("alice", "10.0.0.1", now));
    // The same account in another form, from another client: the fourth attempt.
    EXPECT_FALSE(throttle.begin_attempt("CORP\\Alice", "10.0.0.2", now));
    const auto wait = throttle.begin_attempt("alice@corp.example.com", "10.0.0.3", now + 60s);
    ASSERT_TRUE(wait);
    EXPECT_EQ(wait->count(), 840);
    EXPECT_FALSE(throttle.begin_attempt("bob", "10.0.0.3", now));
    EXPECT_FALSE(throttle.begin_attempt("alice", "10.0.0.3", now + 901s));  // window passed
}

TEST(Throttle, ParallelAttemptsCannotOverrunTheLimit) {
    // Attempts in flight count before their outcome is known.
    LoginThrottle throttle({.failures_per_account = 4, .failures_per_client = 100, .window = 900s});
    int admitted = 0;
    for (int i = 0; i < 8; ++i) admitted += throttle.begin_attempt("alice", "10.0.0.1") ? 0 : 1;
    EXPECT_EQ(admitted, 4);
}

TEST(Throttle, BlocksAClientSprayingAccounts) {
    LoginThrottle throttle({.failures_per_account = 4, .failures_per_client = 5, .window = 900s});
    const auto now = LoginThrottle::Clock::now();
    for (int i = 0; i < 5; ++i) EXPECT_FALSE(throttle.begin_attempt("user" + std::to_string(i), "10.0.0.9", now));
    EXPECT_TRUE(throttle.begin_attempt("someone-else", "10.0.0.9", now));
    EXPECT_FALSE(throttle.begin_attempt("someone-else", "10.0.0.8", now));
}

TEST(Throttle, SuccessForgivesTheAccountAndMalformedAttemptsDoNotCount) {
    LoginThrottle throttle({.failures_per_account = 2, .failures_per_client = 100, .window = 900s});
    EXPECT_FALSE(throttle.begin_attempt("alice", "10.0.0.1"));  // failed
    EXPECT_FALSE(throttle.begin_attempt("alice", "10.0.0.1"));
    throttle.succeeded("alice", "10.0.0.1");
    EXPECT_FALSE(throttle.begin_attempt("alice", "10.0.0.1"));
    throttle.not_counted("alice", "10.0.0.1");
    EXPECT_FALSE(throttle.begin_attempt("alice", "10.0.0.1"));  // one failure on the books
    EXPECT_FALSE(throttle.begin_attempt("alice", "10.0.0.1"));  // two
    EXPECT_TRUE(throttle.begin_attempt("alice", "10.0.0.1"));
}

TEST(AnonymousAuditBudget, WritesUpToTheBudgetThenCountsAndReportsTheCountNextMinute) {
    AnonymousAuditBudget budget(3);
    const auto start = AnonymousAuditBudget::Clock::now();
    for (int i = 0; i < 3; ++i) {
        const auto admission = budget.admit("10.0.0.1", start);
        EXPECT_TRUE(admission.write);
        EXPECT_EQ(admission.suppressed, 0u);
    }
    const auto over = budget.admit("10.0.0.1", start);
    EXPECT_FALSE(over.write);
    EXPECT_TRUE(over.started_suppressing);
    for (int i = 0; i < 9; ++i) EXPECT_FALSE(budget.admit("10.0.0.1", start).started_suppressing);
    // Another address has its own budget.
    EXPECT_TRUE(budget.admit("10.0.0.2", start).write);
    // A minute later the next record carries the count of the ten not written.
    const auto later = budget.admit("10.0.0.1", start + std::chrono::seconds(61));
    EXPECT_TRUE(later.write);
    EXPECT_EQ(later.suppressed, 10u);
    EXPECT_EQ(budget.admit("10.0.0.1", start + std::chrono::seconds(62)).suppressed, 0u);
}

TEST(AnonymousAuditBudget, ManyAddressesShareOneBudgetPastTheCap) {
    AnonymousAuditBudget budget(2, 100);
    const auto now = AnonymousAuditBudget::Clock::now();
    for (int i = 0; i < 100; ++i) EXPECT_TRUE(budget.admit("10.1.0." + std::to_string(i), now).write);
    // The 101st address onwards: one shared budget of 2, so a flood from many addresses is bounded.
    int written = 0;
    for (int i = 0; i < 1000; ++i) written += budget.admit("10.2." + std::to_string(i), now).write ? 1 : 0;
    EXPECT_EQ(written, 2);
}
