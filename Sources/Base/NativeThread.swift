import Glibc

/// A POSIX thread of its own, for work that blocks (a responder's poll loop, a TLS handshake,
/// a hook): Swift's async threads are one per core and must not block.
public enum NativeThread {
    /// Why a thread could not be started: the pthread error code.
    public struct Failure: Error {
        public let code: Int32
    }

    /// Runs `body` on a new joinable thread, with a stack of `stackBytes` (nil: the default);
    /// the pthread error code when it cannot be started.
    public static func spawn(stackBytes: Int? = nil, _ body: @escaping () -> Void) -> Result<pthread_t, Failure> {
        let box = Unmanaged.passRetained(Job(body)).toOpaque()
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        if let stackBytes { pthread_attr_setstacksize(&attributes, stackBytes) }
        var handle = pthread_t()
        let rc = pthread_create(&handle, &attributes, { raw in
            OwnThreadMark.set()
            Unmanaged<Job>.fromOpaque(raw!).takeRetainedValue().body()
            return nil
        }, box)
        guard rc == 0 else {
            Unmanaged<Job>.fromOpaque(box).release()
            return .failure(Failure(code: rc))
        }
        return .success(handle)
    }

    private final class Job {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }
}

/// Runs blocking work (a hook, a DNS lookup) on a thread of its own and waits for it without
/// holding one of the few threads async code shares, so that several can wait side by side
/// (Dispatch's queues run about one block per core at a time). Where no thread can be
/// started, the work runs on the caller's thread: slower, never skipped.
public func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        switch NativeThread.spawn({ continuation.resume(returning: body()) }) {
        case .success(let thread): pthread_detach(thread)
        case .failure: continuation.resume(returning: body())
        }
    }
}

/// `onOwnThread` for work that throws: the error is rethrown to the waiting task.
public func onOwnThread<T: Sendable>(throwing body: @escaping @Sendable () throws -> T) async throws -> T {
    try await onOwnThread { Result { try body() } }.get()
}
