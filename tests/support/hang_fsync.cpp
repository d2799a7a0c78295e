// A fault injector for the audit tests, loaded into keydesk with LD_PRELOAD: fsync and fdatasync
// block while the file named by KD_HANG_FSYNC_WHILE exists (a hung disk or a stalled NFS
// server), then make the real call. Nothing else changes.
#include <dlfcn.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

namespace {

void wait_while_hung() {
    const char* flag = std::getenv("KD_HANG_FSYNC_WHILE");
    if (flag == nullptr) return;
    struct stat info {};
    while (::stat(flag, &info) == 0) ::usleep(20000);
}

using SyncCall = int (*)(int);

SyncCall next(const char* name) { return reinterpret_cast<SyncCall>(::dlsym(RTLD_NEXT, name)); }

}  // namespace

extern "C" int fdatasync(int fd) {
    static const SyncCall real = next("fdatasync");
    wait_while_hung();
    return real(fd);
}

extern "C" int fsync(int fd) {
    static const SyncCall real = next("fsync");
    wait_while_hung();
    return real(fd);
}
