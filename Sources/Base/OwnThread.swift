import Glibc

/// An actor whose code runs on a thread of its own, for async code that must also block
/// between its awaits: a store connection and its advisory locks held across an order, a
/// renewal's DNS checks and lock waits around its requests to the CA.
///
/// `try await OwnThread.run { _ in … }` runs the closure isolated to a new `OwnThread`:
/// its synchronous parts (libpq, poll, waitpid, fcntl) run on a `NativeThread`, never on the
/// few threads async code shares, and each `await` on other async code (the ACME client,
/// a workflow) leaves the thread meanwhile and comes back to it afterwards.
public actor OwnThread {
    private let executor = ThreadExecutor()

    public nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    init() {}

    /// Runs `body` on a thread of its own (see the type).
    public static func run<T: Sendable>(_ body: @Sendable (isolated OwnThread) async throws -> T) async throws -> T {
        try await OwnThread().perform(body)
    }

    private func perform<T: Sendable>(_ body: @Sendable (isolated OwnThread) async throws -> T) async throws -> T {
        try await body(self)
    }
}

/// A serial executor that runs its jobs one after another on a `NativeThread` (marked as
/// one that may block): started when a job arrives and none runs, ended when the queue is
/// empty, so an idle executor holds no thread and needs no stopping.
final class ThreadExecutor: SerialExecutor, @unchecked Sendable {
    // Guarded by `mutex`: the jobs not yet run, and whether a thread is running them.
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var jobs: [UnownedJob] = []
    private var running = false

    init() {
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        pthread_mutex_lock(mutex)
        jobs.append(job)
        let start = !running
        running = true
        pthread_mutex_unlock(mutex)
        guard start else { return }
        switch NativeThread.spawn({ self.drain() }) {
        case .success(let thread): pthread_detach(thread)
        case .failure:
            // No thread to be had: run here rather than never (slower, never lost).
            drain()
        }
    }

    func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    private func drain() {
        while true {
            pthread_mutex_lock(mutex)
            guard !jobs.isEmpty else {
                running = false
                pthread_mutex_unlock(mutex)
                return
            }
            let job = jobs.removeFirst()
            pthread_mutex_unlock(mutex)
            job.runSynchronously(on: asUnownedSerialExecutor())
        }
    }
}
