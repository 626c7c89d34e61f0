/* Written by cargo-imagebuild into the OpenSSL it builds for a 32-bit musl target: the generic
 * (any size) atomic operations that libatomic provides elsewhere and that musl toolchains lack.
 * The compiler calls these for objects it cannot update with one lock-free instruction (a 64-bit
 * value aligned to 4 bytes on i686, say); every access to such an object goes through them, so
 * a lock per address bucket makes them atomic, as libatomic itself does for those sizes. */
#include <stddef.h>
#include <string.h>

static volatile int locks[64];

static volatile int *lock_for(const volatile void *p) {
    return &locks[((size_t)p >> 4) & 63];
}
static void lock(volatile int *l) {
    while (__sync_lock_test_and_set(l, 1)) {
    }
}
static void unlock(volatile int *l) { __sync_lock_release(l); }

void ib_atomic_load(size_t n, const volatile void *src, void *dest, int order)
    __asm__("__atomic_load");
void ib_atomic_load(size_t n, const volatile void *src, void *dest, int order) {
    volatile int *l = lock_for(src);
    (void)order;
    lock(l);
    memcpy(dest, (const void *)src, n);
    unlock(l);
}

void ib_atomic_store(size_t n, volatile void *dest, void *src, int order)
    __asm__("__atomic_store");
void ib_atomic_store(size_t n, volatile void *dest, void *src, int order) {
    volatile int *l = lock_for(dest);
    (void)order;
    lock(l);
    memcpy((void *)dest, src, n);
    unlock(l);
}

void ib_atomic_exchange(size_t n, volatile void *ptr, void *val, void *ret, int order)
    __asm__("__atomic_exchange");
void ib_atomic_exchange(size_t n, volatile void *ptr, void *val, void *ret, int order) {
    volatile int *l = lock_for(ptr);
    (void)order;
    lock(l);
    memcpy(ret, (void *)ptr, n);
    memcpy((void *)ptr, val, n);
    unlock(l);
}

int ib_atomic_compare_exchange(size_t n, volatile void *ptr, void *expected, void *desired,
                               int success, int failure) __asm__("__atomic_compare_exchange");
int ib_atomic_compare_exchange(size_t n, volatile void *ptr, void *expected, void *desired,
                               int success, int failure) {
    volatile int *l = lock_for(ptr);
    int same;
    (void)success;
    (void)failure;
    lock(l);
    same = memcmp((void *)ptr, expected, n) == 0;
    if (same) {
        memcpy((void *)ptr, desired, n);
    } else {
        memcpy(expected, (void *)ptr, n);
    }
    unlock(l);
    return same;
}

/* Lock-free only where one instruction does it: naturally aligned objects of up to 4 bytes.
 * Larger ones report "not lock-free", and OpenSSL then guards them with its own lock. */
int ib_atomic_is_lock_free(size_t n, const volatile void *ptr) __asm__("__atomic_is_lock_free");
int ib_atomic_is_lock_free(size_t n, const volatile void *ptr) {
    return (n == 1 || n == 2 || n == 4) && ((size_t)ptr % n == 0);
}
