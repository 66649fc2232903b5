import Base
import Foundation
import Glibc
import Testing
@testable import CertStore

/// Files acme keeps inside its trees are read and written without following links (issue 21,
/// item 4): a lineage's key reached through a link out of the tree is refused, and a write
/// never goes through a link or into another name of a file.
@Suite("files in the managed trees against links")
struct LinkedFilesTests {
    /// A lineage and a directory beside the config directory holding a "key" that must not be read.
    static func lineageAndOutside() throws -> (dir: String, lineage: Lineage, outside: String) {
        let dir = try temporaryConfig()
        let lineage = try LineageStore(configDirectory: dir).create(name: "mail.example.test", files: sampleFiles,
                                                                    renewalParams: sampleParams, version: "0.1.0")
        let outside = dir + "-outside"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        try "OUTSIDE-KEY\n".write(toFile: outside + "/key.pem", atomically: true, encoding: .utf8)
        return (dir, lineage, outside)
    }

    static func relink(_ path: String, to target: String) throws {
        try FileManager.default.removeItem(atPath: path)
        try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: target)
    }

    @Test("the live key is read through the lineage's own link only",
          arguments: ["archived key is a link", "live link points out", "live link climbs out", "archive dir is a link"])
    func liveKey(_ case_: String) throws {
        let (dir, lineage, outside) = try Self.lineageAndOutside()
        defer { try? FileManager.default.removeItem(atPath: dir); try? FileManager.default.removeItem(atPath: outside) }
        #expect(try lineage.readLive("privkey") == "KEY1\n")
        switch case_ {
        case "archived key is a link": try Self.relink(lineage.archivePath + "/privkey1.pem", to: outside + "/key.pem")
        case "live link points out": try Self.relink(lineage.privkeyPath, to: outside + "/key.pem")
        case "live link climbs out":
            try Self.relink(lineage.privkeyPath, to: "../../archive/\(lineage.name)/../../../\(FS.lastComponent(outside))/key.pem")
        default:
            try FileManager.default.moveItem(atPath: lineage.archivePath, toPath: outside + "/archive")
            try "OUTSIDE-KEY\n".write(toFile: outside + "/archive/privkey1.pem", atomically: true, encoding: .utf8)
            try FileManager.default.createSymbolicLink(atPath: lineage.archivePath, withDestinationPath: outside + "/archive")
        }
        #expect(try String(contentsOfFile: lineage.privkeyPath, encoding: .utf8) == "OUTSIDE-KEY\n", "the case is set up")
        let error = #expect(throws: (any Error).self) { try lineage.readLive("privkey") } as? any CodedError
        #expect(error?.category == .localState)
        #expect(error?.message.contains("link") == true, "\(String(describing: error))")
        #expect(#expect(throws: (any Error).self) { try LineageStore(configDirectory: dir).readLive(lineage) } != nil)
    }

    @Test("an atomic write replaces a link at its name and never writes to the link's target")
    func writeReplacesLink() throws {
        let (dir, lineage, outside) = try Self.lineageAndOutside()
        defer { try? FileManager.default.removeItem(atPath: dir); try? FileManager.default.removeItem(atPath: outside) }
        let state = lineage.archivePath + "/.acme-dane.json"
        try FileManager.default.createSymbolicLink(atPath: state, withDestinationPath: outside + "/key.pem")
        #expect((#expect(throws: BaseError.self) { try lineage.readArchived(".acme-dane.json") })?.code == .unsafePath)
        try FS.writeAtomically(state, "{}\n", mode: 0o644, below: lineage.archiveRoot)
        #expect(try String(contentsOfFile: outside + "/key.pem", encoding: .utf8) == "OUTSIDE-KEY\n")
        #expect(try lineage.readArchived(".acme-dane.json") == "{}\n")
    }

    @Test("a temporary file left at the write's name as another name of a file outside is replaced, not written into")
    func staleTemporaryHardLink() throws {
        let (dir, lineage, outside) = try Self.lineageAndOutside()
        defer { try? FileManager.default.removeItem(atPath: dir); try? FileManager.default.removeItem(atPath: outside) }
        let state = lineage.archivePath + "/.acme-dane.json"
        // writeAtomically's temporary: "." + the file's name + ".tmp-" + our pid.
        let temporary = lineage.archivePath + "/..acme-dane.json.tmp-\(getpid())"
        guard link(outside + "/key.pem", temporary) == 0 else { throw CocoaError(.fileWriteUnknown) }
        try FS.writeAtomically(state, "{}\n", mode: 0o644, below: lineage.archiveRoot)
        #expect(try String(contentsOfFile: outside + "/key.pem", encoding: .utf8) == "OUTSIDE-KEY\n", "written into the file outside")
        #expect(try String(contentsOfFile: state, encoding: .utf8) == "{}\n")
    }

    @Test("a write below a lineage whose archive directory is a link is refused")
    func writeBelowLinkedDirectory() throws {
        let (dir, lineage, outside) = try Self.lineageAndOutside()
        defer { try? FileManager.default.removeItem(atPath: dir); try? FileManager.default.removeItem(atPath: outside) }
        try FileManager.default.removeItem(atPath: lineage.archivePath)
        try FileManager.default.createSymbolicLink(atPath: lineage.archivePath, withDestinationPath: outside)
        let error = #expect(throws: BaseError.self) {
            try FS.writeAtomically(lineage.archivePath + "/.acme-next-privkey.pem", "KEY\n", mode: 0o600, below: lineage.archiveRoot)
        }
        #expect(error?.code == .unsafePath)
        #expect(!FileManager.default.fileExists(atPath: outside + "/.acme-next-privkey.pem"))
    }
}
