// The Cookie header as keydesk reads it: find_cookie, then the token lookup it feeds
// (same_token, SessionStore::find).
//
// Properties: nothing crashes; the value found is a substring of the header (a view into it),
// holds no `;`, stands right after `<name>=` at the start of a pair, and is what an independent
// reading of the header (split at `;`, leading spaces dropped, first `=`) finds; same_token is
// equality (an empty token never matches); an unknown token never finds a session.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "server/api/api.hpp"
#include "server/auth/session_store.hpp"
#include "tests/fuzz/fuzz_check.hpp"

namespace {

using namespace std::chrono_literals;

// Cookie pairs as RFC 6265 section 5.4 sends them: "a=1; b=2".
std::string_view reference_find(std::string_view header, std::string_view name) {
    std::size_t start = 0;
    while (start <= header.size()) {
        auto end = header.find(';', start);
        if (end == std::string_view::npos) end = header.size();
        auto pair = header.substr(start, end - start);
        const auto first = pair.find_first_not_of(' ');
        pair = first == std::string_view::npos ? std::string_view() : pair.substr(first);
        const auto equals = pair.find('=');
        if (equals != std::string_view::npos && pair.substr(0, equals) == name) {
            return pair.substr(equals + 1);
        }
        start = end + 1;
    }
    return {};
}

struct Fixture {
    keydesk::server::SessionStore sessions{15min, 8h, 16};
    std::string token;
    Fixture() {
        keydesk::server::StaffSession session;
        session.username = "fuzz";
        session.dn = "CN=fuzz,DC=example,DC=com";
        session.roles.add(keydesk::server::Role::helpdesk);
        token = sessions.create(session);
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static Fixture fixture;
    if (size == 0) return 0;
    std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);

    // First byte, low bit set: keydesk's own cookie name; else the next (byte % 32) bytes name it.
    std::string_view name = keydesk::server::session_cookie_name;
    if ((data[0] & 1) == 0) {
        const std::size_t length = std::min<std::size_t>(data[0] % 32, rest.size());
        name = rest.substr(0, length);
        rest.remove_prefix(length);
    }
    const std::string header(rest);  // its own allocation, so ASan sees any read past its end
    const std::string_view view(header);

    const auto value = keydesk::server::find_cookie(view, name);
    if (!value.empty()) {
        FUZZ_CHECK(
            value.data() >= view.data() && value.data() + value.size() <= view.data() + view.size(),
            value);
        const auto offset = static_cast<std::size_t>(value.data() - view.data());
        FUZZ_CHECK(offset >= name.size() + 1, value);
        FUZZ_CHECK(
            view.substr(offset - name.size() - 1, name.size() + 1) == std::string(name) + "=",
            value);
        const auto before = offset - name.size() - 1;
        FUZZ_CHECK(before == 0 || view[before - 1] == ' ' || view[before - 1] == ';', value);
    }
    FUZZ_CHECK(value.find(';') == std::string_view::npos, value);
    FUZZ_CHECK(value == reference_find(view, name), value);

    // Equality, except that an empty token never matches (not even another empty one).
    FUZZ_CHECK(keydesk::server::same_token(value, fixture.token) == (value == fixture.token),
               value);
    FUZZ_CHECK(keydesk::server::same_token(view, header) == !view.empty(), "");
    FUZZ_CHECK(keydesk::server::same_token(view, name) == (!view.empty() && view == name), "");
    if (value != fixture.token) {
        FUZZ_CHECK(!fixture.sessions.find(value).has_value(), value);
    }
    return 0;
}
