import Base
import CertStore
import Foundation
import Testing
@testable import Renewal

@Suite("lineage locker: the config directory's kind")
struct LineageLockerTests {
    @Test("holds the config directory's lock (another run cannot take it) until unlocked; a missing directory is an error naming it")
    func configDirectoryKind() async throws {
        let directory = NSTemporaryDirectory() + "acme-locker-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var locker = try await ConfigDirectoryLocker(configDirectory: directory).locked()
        #expect(try locker.lock(["a", "b"]) == ["a", "b"], "every lineage: the lock covers the directory")
        let whileHeld = await onOwnThread { (try? ConfigLock.acquire(configDirectory: directory, create: false, wait: false)) == nil }
        #expect(whileHeld, "a second run cannot take the lock while the locker holds it")
        locker.unlock()
        // Free again once unlocked. An open-file-description lock goes with its last descriptor: a
        // child another test spawns in this instant holds a copy until its exec (O_CLOEXEC), so the
        // lock may come free a moment later; asked again for up to 30 s, never a verdict on speed.
        var afterwards = false
        for _ in 0..<600 where !afterwards {
            afterwards = await onOwnThread { () -> Bool in
                guard let lock = try? ConfigLock.acquire(configDirectory: directory, create: false, wait: false) else { return false }
                lock.release()
                return true
            }
            if !afterwards { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(afterwards, "free again once unlocked")
        await #expect(throws: CertStoreError.self) { _ = try await ConfigDirectoryLocker(configDirectory: directory + "/missing").locked() }
    }
}
