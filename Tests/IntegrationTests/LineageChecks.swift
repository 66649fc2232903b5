import Foundation
import Testing

/// What a user checks after `acme issue`: the four files in live/, links into archive/,
/// modes, and a chain that `openssl verify` accepts against Pebble's root for every name.
struct LineageChecks {
    let configDir: String
    let name: String

    var live: String { configDir + "/live/" + name }

    func verify(names: [String], root: String, keyAlgorithm: String, version: Int = 1) throws {
        let fm = FileManager.default
        for file in ["cert", "chain", "fullchain", "privkey"] {
            let link = live + "/\(file).pem"
            let target = try fm.destinationOfSymbolicLink(atPath: link)
            #expect(target == "../../archive/\(name)/\(file)\(version).pem", "live/\(name)/\(file).pem links to \(target)")
            #expect(fm.fileExists(atPath: link))
        }
        #expect(fm.fileExists(atPath: live + "/README"))
        #expect(fm.fileExists(atPath: configDir + "/renewal/\(name).conf"))
        let keyMode = try fm.attributesOfItem(atPath: configDir + "/archive/\(name)/privkey\(version).pem")[.posixPermissions] as? Int
        #expect(keyMode == 0o600, "private key mode is \(String(keyMode ?? 0, radix: 8))")
        let archiveMode = try fm.attributesOfItem(atPath: configDir + "/archive")[.posixPermissions] as? Int
        #expect(archiveMode == 0o700)

        let rootFile = configDir + "/../pebble-root-\(UUID().uuidString.prefix(6)).pem"
        try root.write(toFile: rootFile, atomically: true, encoding: .utf8)
        let verify = try run("/usr/bin/openssl", ["verify", "-CAfile", rootFile, "-untrusted", live + "/chain.pem", live + "/cert.pem"])
        #expect(verify.status == 0, "openssl verify: \(verify.output)")
        let fullchainVerify = try run("/usr/bin/openssl", ["verify", "-CAfile", rootFile, "-untrusted", live + "/fullchain.pem", live + "/cert.pem"])
        #expect(fullchainVerify.status == 0, "openssl verify fullchain: \(fullchainVerify.output)")
        for n in names {
            let check = try run("/usr/bin/openssl", ["x509", "-in", live + "/cert.pem", "-noout", "-checkhost", n])
            #expect(check.stdout.contains("does match"), "certificate does not cover \(n): \(check.stdout)")
        }
        // The key in live/ is the certificate's key.
        let certKey = try run("/usr/bin/openssl", ["x509", "-in", live + "/cert.pem", "-noout", "-pubkey"])
        let privKey = try run("/usr/bin/openssl", ["pkey", "-in", live + "/privkey.pem", "-pubout"])
        #expect(certKey.stdout == privKey.stdout && !certKey.stdout.isEmpty, "privkey.pem does not match cert.pem")
        let text = try run("/usr/bin/openssl", ["x509", "-in", live + "/cert.pem", "-noout", "-text"])
        #expect(text.stdout.contains(keyAlgorithm), "certificate key is not \(keyAlgorithm)")
    }

    /// A digest of everything under live/ (link targets and contents): to prove a failed run changed nothing.
    static func snapshot(_ configDir: String) -> String {
        let live = configDir + "/live"
        guard let items = FileManager.default.subpaths(atPath: live) else { return "" }
        var out = ""
        for item in items.sorted() {
            let path = live + "/" + item
            let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: path)) ?? ""
            let data = FileManager.default.contents(atPath: path) ?? Data()
            out += "\(item) -> \(target) \(data.count) \(data.hashValue)\n"
        }
        return out
    }
}
