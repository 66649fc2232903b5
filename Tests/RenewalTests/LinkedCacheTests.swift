import Foundation
import Testing
@testable import Renewal

/// The ARI and directory caches beside the lineages (`<config-dir>/.acme-*.json`) against links
/// (issue 21, item 4): a link there is an empty cache, never read, and a save replaces it.
@Suite("state caches against links")
struct LinkedCacheTests {
    struct Entry: Codable, Equatable, Sendable { var value: String }

    @Test("a cache file that is a link is not read, and saving replaces the link instead of writing to its target")
    func linkedCache() throws {
        let dir = NSTemporaryDirectory() + "acme-linked-cache-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir + "/le", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let outside = dir + "/outside.json"
        let forged = "{\"mail.example.test\": {\"value\": \"forged\"}}\n"
        try forged.write(toFile: outside, atomically: true, encoding: .utf8)
        let path = dir + "/le/.acme-ari.json"
        try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: outside)
        var file = StateFile<Entry>(path: path)
        #expect(file["mail.example.test"] == nil, "the linked file's entries were read")
        file["mail.example.test"] = Entry(value: "ours")
        try file.save()
        #expect(try String(contentsOfFile: outside, encoding: .utf8) == forged, "written through the link")
        #expect(try FileManager.default.destinationOfSymbolicLinkIfAny(path) == nil)
        #expect(StateFile<Entry>(path: path)["mail.example.test"] == Entry(value: "ours"))
    }
}

extension FileManager {
    func destinationOfSymbolicLinkIfAny(_ path: String) throws -> String? {
        (try attributesOfItem(atPath: path)[.type] as? FileAttributeType) == .typeSymbolicLink ? try destinationOfSymbolicLink(atPath: path) : nil
    }
}
