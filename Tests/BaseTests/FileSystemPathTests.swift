import Base
import Foundation
import Glibc
import Testing

/// The path helpers and reads every lineage goes through (byte-wise since the renew no-op
/// regression of issue 23; these pin what they return).
@Suite("file system paths and reads")
struct FileSystemPathTests {
    @Test("lastComponent is the last non-empty component, or the path itself when it has none")
    func lastComponent() {
        #expect(FS.lastComponent("/etc/letsencrypt/live/mail.example.com/cert.pem") == "cert.pem")
        #expect(FS.lastComponent("../../archive/mail.example.com/privkey12.pem") == "privkey12.pem")
        #expect(FS.lastComponent("archive/mail.example.com/") == "mail.example.com")
        #expect(FS.lastComponent("a//b//") == "b")
        #expect(FS.lastComponent("cert.pem") == "cert.pem")
        #expect(FS.lastComponent("/") == "/")
        #expect(FS.lastComponent("//") == "//")
        #expect(FS.lastComponent("") == "")
        #expect(FS.lastComponent("/srv/clés/ключ.pem") == "ключ.pem")
        #expect(FS.lastComponent("/srv/e\u{301}/") == "e\u{301}")
    }

    @Test("parentDirectory drops the last component; \"/\" and \".\" at the ends")
    func parentDirectory() {
        #expect(FS.parentDirectory("/etc/letsencrypt/live/a/cert.pem") == "/etc/letsencrypt/live/a")
        #expect(FS.parentDirectory("/etc") == "/")
        #expect(FS.parentDirectory("cert.pem") == ".")
        #expect(FS.parentDirectory("live/cert.pem") == "live")
        #expect(FS.parentDirectory("/srv/clés/ключ.pem") == "/srv/clés")
    }

    static func directory() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fs-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir + "/tree/sub", withIntermediateDirectories: true)
        return dir
    }

    @Test("a read returns the file's exact bytes whatever its size, and refuses one over the limit",
          arguments: [0, 1, 1000, 16383, 16384, 16385, 100_000])
    func readSizes(_ size: Int) throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let text = String((0..<size).map { i in Character(Unicode.Scalar(UInt8(97 + i % 26))) })
        try text.write(toFile: dir + "/tree/sub/file", atomically: false, encoding: .utf8)
        #expect(try FS.read(dir + "/tree/sub/file") == text)
        #expect(try FS.readNoFollow(dir + "/tree/sub/file", below: dir + "/tree") == text)
        if size > 0 {
            let error = #expect(throws: BaseError.self) { try FS.read(dir + "/tree/sub/file", limit: size - 1) }
            #expect(error?.code == .unreadable)
        }
    }

    @Test("readNoFollow reads one directory below the tree, and refuses that directory as a link or a file")
    func oneBelowTree() throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "inside\n".write(toFile: dir + "/tree/sub/key.pem", atomically: false, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: dir + "/outside", withIntermediateDirectories: true)
        try "OUTSIDE\n".write(toFile: dir + "/outside/key.pem", atomically: false, encoding: .utf8)
        #expect(try FS.readNoFollow(dir + "/tree/sub/key.pem", below: dir + "/tree") == "inside\n")
        // The tree itself may be reached through a link (a config directory that is a link).
        try FileManager.default.createSymbolicLink(atPath: dir + "/tree-link", withDestinationPath: dir + "/tree")
        #expect(try FS.readNoFollow(dir + "/tree-link/sub/key.pem", below: dir + "/tree-link") == "inside\n")
        // A directory below it may not.
        try FileManager.default.createSymbolicLink(atPath: dir + "/tree/linked", withDestinationPath: dir + "/outside")
        let linked = #expect(throws: BaseError.self) { try FS.readNoFollow(dir + "/tree/linked/key.pem", below: dir + "/tree") }
        #expect(linked?.code == .unsafePath)
        #expect(linked?.message.contains("\(dir)/tree/linked is not a real directory") == true, "\(String(describing: linked))")
        try "not a directory\n".write(toFile: dir + "/tree/plain", atomically: false, encoding: .utf8)
        #expect((#expect(throws: BaseError.self) { try FS.readNoFollow(dir + "/tree/plain/key.pem", below: dir + "/tree") })?.code == .unsafePath)
        let missing = #expect(throws: BaseError.self) { try FS.readNoFollow(dir + "/tree/none/key.pem", below: dir + "/tree") }
        #expect(missing?.code == .unreadable && missing?.message.contains("cannot open \(dir)/tree/none") == true)
        let noTree = #expect(throws: BaseError.self) { try FS.readNoFollow(dir + "/gone/sub/key.pem", below: dir + "/gone") }
        #expect(noTree?.code == .unreadable && noTree?.message.contains("cannot open \(dir)/gone:") == true)
        #expect((#expect(throws: BaseError.self) { try FS.readNoFollow(dir + "/tree/../outside/key.pem", below: dir + "/tree") })?.code == .unsafePath)
    }
}
