import Glibc

/// Whether this process (and so the rampartd built beside it) runs under AddressSanitizer or
/// ThreadSanitizer: their shadow memory makes resident-memory bounds meaningless.
public let underSanitizer: Bool = {
    let names: [String] = ["__asan_init", "__tsan_init"]
    return names.contains { dlsym(UnsafeMutableRawPointer(bitPattern: 0), $0) != nil }
}()
