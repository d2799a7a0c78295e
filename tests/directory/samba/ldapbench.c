/* ldapbench.c -- time Key ID search strategies over ONE persistent LDAPS connection.
 *
 * Build: cc -O2 -o ldapbench ldapbench.c -lldap -llber   (bench.sh does it)
 * Usage: ldapbench URI CA_FILE BIND_DN PASSWORD_FILE BASE_DN MODE KEYS_FILE N
 *   MODE: eq | range | cn | name | connect
 *   KEYS_FILE: one Key ID per line (upper-case GUID text); the first N are queried.
 * For every query the number of entries is checked against what KEYS_FILE implies (eq: 1;
 * prefix modes: the number of keys in KEYS_FILE with that 8-character prefix, so KEYS_FILE must
 * list every key in the directory). Prints: mode, queries, total ms, ms/query, mismatches.
 * Searches are subtree from BASE_DN with referral chasing off (AD returns continuation
 * references to the other partitions; they are not entries and are not counted).
 */
#define LDAP_DEPRECATED 0
#include <ctype.h>
#include <lber.h>
#include <ldap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void die(const char *what, int rc) {
    fprintf(stderr, "ldapbench: %s: %s (%d)\n", what, ldap_err2string(rc), rc);
    exit(1);
}

/* GUID text -> 16 bytes in MS-DTYP order (Data1/2/3 little-endian). */
static int guid_bytes(const char *s, unsigned char out[16]) {
    unsigned char b[16];
    int n = 0;
    for (const char *p = s; *p && n < 16; p++) {
        if (*p == '-') continue;
        if (!isxdigit((unsigned char)p[0]) || !isxdigit((unsigned char)p[1])) return -1;
        char h[3] = {p[0], p[1], 0};
        b[n++] = (unsigned char)strtoul(h, NULL, 16);
        p++;
    }
    if (n != 16) return -1;
    int order[16] = {3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15};
    for (int i = 0; i < 16; i++) out[i] = b[order[i]];
    return 0;
}

static void hexesc(char *dst, const unsigned char *b, int n) {
    for (int i = 0; i < n; i++) dst += sprintf(dst, "\\%02x", b[i]);
}

static LDAP *connect_bind(const char *uri, const char *ca, const char *dn, const char *pw) {
    LDAP *ld;
    int rc = ldap_initialize(&ld, uri);
    if (rc != LDAP_SUCCESS) die("ldap_initialize", rc);
    int v3 = LDAP_VERSION3, demand = LDAP_OPT_X_TLS_DEMAND, zero = 0;
    ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &v3);
    ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
    ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTFILE, ca);
    ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &demand);
    ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &zero);
    struct berval cred = {strlen(pw), (char *)pw};
    rc = ldap_sasl_bind_s(ld, dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
    if (rc != LDAP_SUCCESS) die("bind", rc);
    return ld;
}

int main(int argc, char **argv) {
    if (argc != 9) {
        fprintf(stderr, "usage: ldapbench URI CA BIND_DN PASSWORD_FILE BASE MODE KEYS_FILE N\n");
        return 2;
    }
    const char *uri = argv[1], *ca = argv[2], *dn = argv[3], *base = argv[5], *mode = argv[6];
    int n = atoi(argv[8]);
    char pw[256] = {0};
    FILE *f = fopen(argv[4], "r");
    if (!f || !fgets(pw, sizeof pw, f)) { perror(argv[4]); return 1; }
    fclose(f);
    pw[strcspn(pw, "\n")] = 0;

    /* all keys */
    size_t cap = 1024, nkeys = 0;
    char (*keys)[40] = malloc(cap * sizeof *keys);
    f = fopen(argv[7], "r");
    if (!f) { perror(argv[7]); return 1; }
    char line[128];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (strlen(line) != 36) continue;
        if (nkeys == cap) keys = realloc(keys, (cap *= 2) * sizeof *keys);
        strcpy(keys[nkeys++], line);
    }
    fclose(f);
    if (n > (int)nkeys) n = (int)nkeys;

    if (strcmp(mode, "connect") == 0) {
        double t0 = now_ms();
        for (int i = 0; i < n; i++) ldap_unbind_ext_s(connect_bind(uri, ca, dn, pw), NULL, NULL);
        double t = now_ms() - t0;
        printf("%-8s %5d connections %9.1f ms total %8.2f ms/connect+TLS+bind\n", mode, n, t, t / n);
        return 0;
    }

    LDAP *ld = connect_bind(uri, ca, dn, pw);
    char *attrs[] = {"cn", "msFVE-RecoveryPassword", NULL};
    int bad = 0;
    long entries = 0;
    double t0 = now_ms();
    for (int i = 0; i < n; i++) {
        /* spread the sample over the whole key list */
        const char *key = keys[(size_t)i * nkeys / n];
        unsigned char g[16];
        char filter[512], lo[80], hi[80];
        long want = 0;
        if (guid_bytes(key, g) != 0) { fprintf(stderr, "bad key %s\n", key); return 1; }
        if (strcmp(mode, "eq") == 0) {
            strcpy(filter, "(msFVE-RecoveryGuid=");
            hexesc(filter + strlen(filter), g, 16);
            strcat(filter, ")");
            want = 1;
        } else {
            for (size_t k = 0; k < nkeys; k++) want += strncmp(keys[k], key, 8) == 0;
            if (strcmp(mode, "range") == 0) {
                unsigned char a[16], b[16];
                memcpy(a, g, 4); memset(a + 4, 0x00, 12);
                memcpy(b, g, 4); memset(b + 4, 0xff, 12);
                hexesc(lo, a, 16);
                hexesc(hi, b, 16);
                snprintf(filter, sizeof filter,
                         "(&(msFVE-RecoveryGuid>=%s)(msFVE-RecoveryGuid<=%s))", lo, hi);
            } else if (strcmp(mode, "cn") == 0) {
                snprintf(filter, sizeof filter, "(cn=*{%.8s*)", key);
            } else if (strcmp(mode, "name") == 0) {
                snprintf(filter, sizeof filter, "(name=*{%.8s*)", key);
            } else {
                fprintf(stderr, "unknown mode %s\n", mode);
                return 2;
            }
        }
        LDAPMessage *res = NULL;
        int rc = ldap_search_ext_s(ld, base, LDAP_SCOPE_SUBTREE, filter, attrs, 0, NULL, NULL,
                                   NULL, 0, &res);
        if (rc != LDAP_SUCCESS) die(filter, rc);
        long got = ldap_count_entries(ld, res);
        entries += got;
        if (got != want) {
            if (bad < 5) fprintf(stderr, "mismatch: %s: %ld entries, expected %ld\n", filter, got, want);
            bad++;
        }
        ldap_msgfree(res);
    }
    double t = now_ms() - t0;
    printf("%-8s %5d queries %9.1f ms total %8.2f ms/query  %ld entries  %d mismatches\n", mode,
           n, t, t / n, entries, bad);
    ldap_unbind_ext_s(ld, NULL, NULL);
    return bad != 0;
}
