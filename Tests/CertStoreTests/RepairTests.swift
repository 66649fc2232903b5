import Base
import Foundation
import TestFixtures
import Testing
@testable import CertStore

/// What an interrupted run can leave behind, built by hand, and what `repair` makes of it.
/// The fake PEMs pair "KEYn" with "CERTn".
@Suite("repair and prune", .integration)
struct RepairTests {
    static func files(_ n: Int) -> LineageFiles {
        LineageFiles(cert: "CERT\(n)\n", chain: "CHAIN\n", fullchain: "CERT\(n)\nCHAIN\n", privkey: "KEY\(n)\n")
    }
    static func pair(_ key: String, _ cert: String) -> Bool {
        key.filter(\.isNumber) == cert.filter(\.isNumber) && !key.isEmpty
    }

    func lineage(versions: Int) throws -> (LineageStore, Lineage, String) {
        let dir = try temporaryConfig()
        let store = LineageStore(configDirectory: dir)
        let lineage = try store.create(name: "r.example.test", files: Self.files(1), renewalParams: sampleParams, version: "0.1.0")
        for n in stride(from: 2, through: versions, by: 1) {
            try store.addVersion(to: lineage, files: Self.files(n), renewalParams: nil, version: "0.1.0")
        }
        return (store, lineage, dir)
    }

    func liveText(_ lineage: Lineage) throws -> (String, String) {
        (try String(contentsOfFile: lineage.privkeyPath, encoding: .utf8), try String(contentsOfFile: lineage.certPath, encoding: .utf8))
    }

    @Test("links that disagree (a certbot run killed between its link updates) point at the newest matching version")
    func mixedLinks() throws {
        let (store, lineage, dir) = try lineage(versions: 2)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // certbot moves links one by one: cert already at 2, key still at 1… and version 2's key was lost.
        try FileManager.default.removeItem(atPath: lineage.privkeyPath)
        try FileManager.default.createSymbolicLink(atPath: lineage.privkeyPath, withDestinationPath: "../../archive/r.example.test/privkey1.pem")
        try FileManager.default.removeItem(atPath: lineage.archivePath + "/privkey2.pem")
        #expect(try liveText(lineage) == ("KEY1\n", "CERT2\n"))
        let actions = try store.repair(lineage, pairMatches: Self.pair)
        #expect(actions.contains { $0.contains("pointed") && $0.contains("version 1") }, "\(actions)")
        #expect(try liveText(lineage) == ("KEY1\n", "CERT1\n"))
        #expect(try store.currentVersion(of: lineage) == 1)
    }

    @Test("a complete version written but never made live is finished; a half-written one is removed")
    func orphanVersions() throws {
        let (store, lineage, dir) = try lineage(versions: 1)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for (kind, text) in [("privkey", "KEY2\n"), ("cert", "CERT2\n"), ("chain", "CHAIN\n"), ("fullchain", "CERT2\nCHAIN\n")] {
            try text.write(toFile: "\(lineage.archivePath)/\(kind)2.pem", atomically: true, encoding: .utf8)
        }
        try "KEY3\n".write(toFile: lineage.archivePath + "/privkey3.pem", atomically: true, encoding: .utf8)
        try "half".write(toFile: lineage.archivePath + "/.cert3.pem.tmp-4242", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: dir + "/live/.r.example.test.acme-new", withIntermediateDirectories: true)

        let actions = try store.repair(lineage, pairMatches: Self.pair)
        #expect(try store.currentVersion(of: lineage) == 2, "\(actions)")
        #expect(try liveText(lineage) == ("KEY2\n", "CERT2\n"))
        let archive = try FileManager.default.contentsOfDirectory(atPath: lineage.archivePath).sorted()
        #expect(!archive.contains("privkey3.pem") && !archive.contains(".cert3.pem.tmp-4242"), "\(archive)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/live/.r.example.test.acme-new"))
        // The next version number does not collide with anything left over.
        try store.addVersion(to: lineage, files: Self.files(3), renewalParams: nil, version: "0.1.0")
        #expect(try store.currentVersion(of: lineage) == 3)
        #expect(try store.repair(lineage, pairMatches: Self.pair).isEmpty, "a clean lineage needs no repair")
    }

    @Test("the live directory is swapped whole: its README stays, no staging directory remains")
    func swapLeavesNoTrace() throws {
        let (store, lineage, dir) = try lineage(versions: 3)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: lineage.livePath).sorted()
                == ["README", "cert.pem", "chain.pem", "fullchain.pem", "privkey.pem"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/live").sorted() == ["README", "r.example.test"])
        #expect(try store.liveVersions(lineage).values.allSatisfy { $0 == 3 })
    }

    @Test("each new version prunes the archive to the current version and the five before it")
    func prune() throws {
        let (store, lineage, dir) = try lineage(versions: 9)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(try store.archiveVersions(lineage).sorted() == [4, 5, 6, 7, 8, 9])
        #expect(try store.prune(lineage).isEmpty)
        #expect(try store.prune(lineage, keep: 2).sorted() == [4, 5, 6])
        #expect(!FileManager.default.fileExists(atPath: lineage.archivePath + "/.acme-changing"), "change marker left behind")
    }

    @Test("delete removes conf, live and archive; the name is free again")
    func delete() throws {
        let (store, lineage, dir) = try lineage(versions: 2)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try store.delete(lineage)
        #expect(try store.lineage(named: "r.example.test") == nil)
        #expect(!FileManager.default.fileExists(atPath: lineage.livePath))
        #expect(!FileManager.default.fileExists(atPath: lineage.archivePath))
        #expect(try store.chooseName(preferred: nil, firstDomain: "r.example.test") == "r.example.test")
    }

    @Test("the lock excludes another process and is free again when the holder dies")
    func lock() throws {
        let dir = try temporaryConfig()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // A second process (POSIX locks are per process): python's lockf, as certbot does it.
        let probe = "python3 -c 'import fcntl,os,sys; fd=os.open(sys.argv[1], os.O_RDWR|os.O_CREAT); fcntl.lockf(fd, fcntl.LOCK_EX|fcntl.LOCK_NB)' \(dir)/.certbot.lock"
        do {
            let lock = try ConfigLock.acquire(configDirectory: dir, create: false, wait: false)
            #expect(try shell(probe).status != 0, "another process could take the lock we hold")
            withExtendedLifetime(lock) {}
        }
        #expect(try shell(probe).status == 0, "the lock was not released")
        // Held elsewhere and not waiting: a clear error.
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        holder.arguments = ["-c", "import fcntl,os,sys,time; fd=os.open(sys.argv[1], os.O_RDWR|os.O_CREAT); fcntl.lockf(fd, fcntl.LOCK_EX); print('x', flush=True); time.sleep(5)", dir + "/.certbot.lock"]
        let pipe = Pipe()
        holder.standardOutput = pipe
        try holder.run()
        _ = pipe.fileHandleForReading.readData(ofLength: 1)
        let refused = #expect(throws: BaseError.self) { try ConfigLock.acquire(configDirectory: dir, create: false, wait: false) }
        #expect(refused?.code == .locked)
        kill(holder.processIdentifier, SIGKILL)
        holder.waitUntilExit()
        #expect(throws: Never.self) { try ConfigLock.acquire(configDirectory: dir, create: false, wait: false) }
    }
}
