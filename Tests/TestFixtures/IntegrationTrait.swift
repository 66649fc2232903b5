import Base
import Glibc
import Testing

/// The trait of the suites whose tests run real programs (acme, Pebble, Postfix, Dovecot,
/// BIND, PostgreSQL) and wait for them: `@Suite("…", .integration)`.
///
/// - Their bodies run on `OwnThreadExecutor`, threads of their own, never on the few threads
///   Swift's async code shares: a test that waits for a process (or sleeps until a daemon's
///   timer fires) then holds up nothing but itself, however many threads the machine has.
///   The library code the test suites run in-process stays on the shared threads, where
///   `BlockingCheck` catches a wait.
/// - At most `IntegrationSlots.count` of them run at once (`ACME_TEST_SLOTS`, default 6):
///   each starts servers of its own, and a hundred Pebbles, Postfixes and daemons started
///   in the same second would measure the machine, not the code.
public struct IntegrationTrait: SuiteTrait, TestTrait, TestScoping {
    public var isRecursive: Bool { true }

    public func provideScope(for test: Test, testCase: Test.Case?,
                             performing function: @Sendable () async throws -> Void) async throws {
        try await IntegrationSlots.shared.holding {
            try await withTaskExecutorPreference(OwnThreadExecutor.shared) { try await function() }
        }
    }
}

extension Trait where Self == IntegrationTrait {
    /// See `IntegrationTrait`.
    public static var integration: Self { Self() }
}

/// A task executor that runs every job on a new thread of its own (`NativeThread`, marked
/// as one that may wait): jobs of a test that blocks never wait for one another or for the
/// shared pool. A thread costs tens of microseconds; an integration test runs a few thousand
/// jobs at most.
public final class OwnThreadExecutor: TaskExecutor {
    public static let shared = OwnThreadExecutor()

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        switch NativeThread.spawn({ job.runSynchronously(on: executor) }) {
        case .success(let thread): pthread_detach(thread)
        case .failure(let failure): fatalError("cannot start a thread for a test (pthread error \(failure.code))")
        }
    }
}

/// How many integration tests run at once; the others wait (without holding a thread).
public actor IntegrationSlots {
    public static let shared = IntegrationSlots(count: IntegrationSlots.configuredCount)

    public static var configuredCount: Int {
        getenv("ACME_TEST_SLOTS").flatMap { Int(String(cString: $0)) }.map { max(1, $0) } ?? 6
    }

    private var free: Int
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(count: Int) { free = count }

    /// Runs `body` holding one slot.
    public func holding(_ body: @Sendable () async throws -> Void) async throws {
        await acquire()
        do {
            try await body()
        } catch {
            release()
            throw error
        }
        release()
    }

    private func acquire() async {
        if free > 0 {
            free -= 1
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    private func release() {
        if waiting.isEmpty { free += 1 } else { waiting.removeFirst().resume() }
    }
}
