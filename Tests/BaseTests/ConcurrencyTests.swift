import Base
import Foundation
import Synchronization
import Testing

/// The rule of Docs/ARCHITECTURE.md, "Concurrency": waits happen on threads of our own.
@Suite("blocking work off the shared async threads")
struct ConcurrencyTests {
    @Test("async code on the shared pool may not wait; onOwnThread and NativeThread may")
    func mayWait() async {
        #expect(!BlockingCheck.mayWait, "a test task runs on the cooperative pool")
        #expect(await onOwnThread { BlockingCheck.mayWait })
        let onNative = Mutex(false)
        if case .success(let thread) = NativeThread.spawn({ onNative.withLock { $0 = BlockingCheck.mayWait } }) {
            pthread_join(thread, nil)
        }
        #expect(onNative.withLock { $0 })
    }

    @Test("OwnThread: the isolated code runs on a thread that may wait, before and after an await on other code")
    func ownThread() async throws {
        let seen = try await OwnThread.run { _ in
            let before = BlockingCheck.mayWait
            let elsewhere = await Self.onPool()
            return [before, elsewhere, BlockingCheck.mayWait]
        }
        #expect(seen == [true, false, true])
    }

    nonisolated static func onPool() async -> Bool { BlockingCheck.mayWait }

    @Test("waits on own threads overlap: eight waits that each need all eight started all finish")
    func overlap() async {
        // Each wait blocks its thread until all eight have started (at most 60 s, a bound on
        // something that takes microseconds). On the pool's one or two threads they would run
        // one after another and the first could never see the others.
        final class Started: Sendable { let count = Mutex(0) }
        let started = Started()
        let sawAll = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    await onOwnThread {
                        started.count.withLock { $0 += 1 }
                        let giveUp = ContinuousClock.now + .seconds(60)
                        while started.count.withLock({ $0 }) < 8 && ContinuousClock.now < giveUp { usleep(1000) }
                        return started.count.withLock { $0 } == 8
                    }
                }
            }
            return await group.reduce(true) { $0 && $1 }
        }
        #expect(sawAll)
    }

    @Test("Subprocess from async code: status and output of a child, waited for off the pool")
    func subprocess() async {
        let result = await Subprocess().run(["/bin/sh", "-c", "echo out; echo err >&2; exit 3"])
        #expect(result.status == 3)
        #expect(result.output == "out\nerr\n")
        let slow = await Subprocess().run(["/bin/sh", "-c", "sleep 30"], timeout: .milliseconds(200))
        #expect(slow.status == 124, "a child still running at its timeout is stopped: \(slow.output)")
    }

    @Test("FileLock excludes another thread of the same process, not only other processes")
    func lockInProcess() async throws {
        let dir = NSTemporaryDirectory() + "acme-lock-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/.certbot.lock"
        var first: FileLock? = try FileLock(path: path, wait: false)
        let second = await onOwnThread { Result { try FileLock(path: path, wait: false) } }
        #expect(throws: BaseError.self, "a second thread must not get the lock while the first holds it") { try second.get() }
        withExtendedLifetime(first) {}
        first = nil  // released: now another thread gets it
        // An open file description lock goes with the last descriptor of it: a child another test
        // spawns in this instant holds a copy until its exec closes it (O_CLOEXEC). So: a few tries.
        let third = await onOwnThread {
            var attempt = Result<FileLock, any Error> { try FileLock(path: path, wait: false) }
            for _ in 0..<100 {
                guard case .failure = attempt else { break }
                usleep(50_000)
                attempt = Result { try FileLock(path: path, wait: false) }
            }
            return attempt.map { _ in true }.mapError { $0 as any Error }
        }
        #expect(throws: Never.self, "released: another thread takes it") { _ = try third.get() }
    }
}
