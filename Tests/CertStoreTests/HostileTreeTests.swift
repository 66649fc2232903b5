import Base
import Foundation
import Testing
@testable import CertStore

@Suite("managed trees against links, FIFOs and odd names")
struct HostileTreeTests {
    @Test("version numbers are digits only and bounded", arguments: [
        ("cert12.pem", 12), ("cert1.pem", 1), ("cert-1.pem", nil), ("cert+5.pem", nil), ("cert 7.pem", nil), ("cert.pem", nil),
        ("cert9223372036854775807.pem", nil), ("cert99999999999999999999.pem", nil), ("cert１.pem", nil), ("cert0x1.pem", nil),
    ] as [(String, Int?)])
    func versions(file: String, expected: Int?) {
        #expect(LineageStore.versionNumber(file, kind: "cert") == expected)
    }

    @Test("a version file named near Int.max neither traps nor becomes the next version")
    func hugeVersion() throws {
        let dir = try temporaryConfig()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = LineageStore(configDirectory: dir)
        let lineage = try store.create(name: "mail.example.test", files: sampleFiles, renewalParams: sampleParams, version: "0.1.0")
        for kind in ["cert", "chain", "fullchain", "privkey"] {
            try "x\n".write(toFile: "\(lineage.archivePath)/\(kind)9223372036854775807.pem", atomically: true, encoding: .utf8)
        }
        try store.addVersion(to: lineage, files: sampleFiles, renewalParams: nil, version: "0.1.0")
        #expect(try store.currentVersion(of: lineage) == 2)
    }

    @Test("a live/ or archive/ directory replaced by a link: delete, repair and new versions refuse, the target keeps its files",
          arguments: ["live", "archive"])
    func linkedLineage(_ tree: String) throws {
        let dir = try temporaryConfig()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = LineageStore(configDirectory: dir)
        let lineage = try store.create(name: "mail.example.test", files: sampleFiles, renewalParams: sampleParams, version: "0.1.0")
        let outside = dir + "/../outside-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: outside) }
        for file in ["cert.pem", "cert1.pem", "keep.txt"] { try "precious\n".write(toFile: outside + "/" + file, atomically: true, encoding: .utf8) }
        let path = tree == "live" ? lineage.livePath : lineage.archivePath
        try FileManager.default.removeItem(atPath: path)
        try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: outside)

        #expect((#expect(throws: CertStoreError.self) { try store.delete(lineage) })?.code == .unsafeLineage)
        #expect((#expect(throws: CertStoreError.self) { try store.repair(lineage) { _, _ in true } })?.code == .unsafeLineage)
        #expect((#expect(throws: CertStoreError.self) {
            try store.addVersion(to: lineage, files: sampleFiles, renewalParams: nil, version: "0.1.0")
        })?.code == .unsafeLineage)
        #expect(try FileManager.default.contentsOfDirectory(atPath: outside).sorted() == ["cert.pem", "cert1.pem", "keep.txt"])
    }

    @Test("removing a managed directory removes links inside it, never their targets; a directory that is a link is refused")
    func removeManagedDirectory() throws {
        let dir = try temporaryConfig()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let target = dir + "/target"
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        try "keep\n".write(toFile: target + "/file", atomically: true, encoding: .utf8)
        let managed = dir + "/managed"
        try FileManager.default.createDirectory(atPath: managed, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: managed + "/link", withDestinationPath: target + "/file")
        try FileManager.default.createSymbolicLink(atPath: managed + "/dirlink", withDestinationPath: target)
        try FileManager.default.createSymbolicLink(atPath: dir + "/linked", withDestinationPath: target)

        #expect((#expect(throws: BaseError.self) { try FS.removeManagedDirectory(dir + "/linked") })?.code == .unsafePath)
        try FS.removeManagedDirectory(managed)
        #expect(!FileManager.default.fileExists(atPath: managed))
        #expect(try String(contentsOfFile: target + "/file", encoding: .utf8) == "keep\n")
    }

    @Test("reading a FIFO, a directory or an oversized file fails at once with what it is")
    func notRegularFiles() throws {
        let dir = try temporaryConfig()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(mkfifo(dir + "/fifo", 0o600) == 0)
        // A FIFO without a writer would block a plain open for reading: refused, never waited on (a wait would hang this test).
        let fifo = #expect(throws: BaseError.self) { try FS.read(dir + "/fifo") }
        #expect(fifo?.message.contains("a FIFO") == true)
        #expect((#expect(throws: BaseError.self) { try FS.read(dir) })?.message.contains("a directory") == true)
        try String(repeating: "x", count: 2048).write(toFile: dir + "/big", atomically: true, encoding: .utf8)
        #expect((#expect(throws: BaseError.self) { try FS.read(dir + "/big", limit: 1024) })?.code == .unreadable)
    }
}
