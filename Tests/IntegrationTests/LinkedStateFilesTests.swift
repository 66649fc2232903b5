import Foundation
import TestFixtures
import Testing

/// Links and special files in the trees acme keeps beside the lineages (issue 21, item 4): the key
/// made for the next renewal, a lineage's archived key and live links, the daemon's status file and
/// `--env-file`. A link out of the tree must never be read as a key (printed as a TLSA record,
/// certified by a renewal) nor written through.
@Suite("links in the files acme keeps", .serialized, .integration)
struct LinkedStateFilesTests {
    /// A P-256 key outside the config tree and its `3 1 1` digest, as openssl computes it.
    static func outsideKey(_ dir: String) throws -> (path: String, digest: String) {
        let path = dir + "/outside-key.pem"
        let made = try run("/bin/sh", ["-c", """
            set -e; openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out \(path) 2>/dev/null
            openssl pkey -in \(path) -pubout -outform DER | openssl dgst -sha256 -r | cut -d' ' -f1
            """])
        guard made.status == 0 else { throw TestFailure("openssl could not make a key: \(made.output)") }
        return (path, made.stdout.trimmingCharacters(in: .whitespacesAndNewlines).uppercased())
    }

    static func spkiDigest(certificate path: String) throws -> String {
        let result = try run("/bin/sh", ["-c", "openssl x509 -in \(path) -pubkey -noout | openssl pkey -pubin -outform DER | openssl dgst -sha256 -r | cut -d' ' -f1"])
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines).uppercased()
    }

    static func link(_ path: String, to target: String) throws {
        try? FileManager.default.removeItem(atPath: path)
        try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: target)
    }

    static func isLink(_ path: String) -> Bool {
        (try? FileManager.default.attributesOfItem(atPath: path)[.type] as? FileAttributeType) == .typeSymbolicLink
    }

    @Test("tlsa --next refuses a key or certificate reached through a link out of the tree, with one line and no record for it",
          arguments: ["next key", "archived key", "live link", "live certificate"])
    func tlsaNext(_ place: String) throws {
        let (dir, name) = try HostileFilesTests.configWithLineage("linked-\(place.split(separator: " ")[0])")
        let outside = try Self.outsideKey(dir)
        let before = try String(contentsOfFile: outside.path, encoding: .utf8)
        let archive = "\(dir)/le/archive/\(name)", live = "\(dir)/le/live/\(name)"
        switch place {
        case "next key":
            try Self.link(archive + "/.acme-next-privkey.pem", to: outside.path)
        case "live certificate":
            // A leaf for the outside key: without the check its record is printed as the current key's.
            let made = try run("/bin/sh", ["-c", "openssl req -x509 -key \(outside.path) -out \(dir)/outside-cert.pem -days 30 -subj /CN=\(name) -addext subjectAltName=DNS:\(name) -addext basicConstraints=critical,CA:FALSE"])
            #expect(made.status == 0, "\(made.output)")
            try Self.link(live + "/fullchain.pem", to: dir + "/outside-cert.pem")
        case "archived key":
            // With reuse_key the record of the next renewal is the current key's: the file the live link reaches.
            try Self.link(archive + "/privkey1.pem", to: outside.path)
        default:
            try Self.link(live + "/privkey.pem", to: outside.path)
        }
        if place != "next key" {
            let conf = "\(dir)/le/renewal/\(name).conf"
            let text = try String(contentsOfFile: conf, encoding: .utf8)
            try text.replacingOccurrences(of: "[renewalparams]\n", with: "[renewalparams]\nreuse_key = True\n")
                .write(toFile: conf, atomically: true, encoding: .utf8)
        }
        let result = try run(TestSupport.acmeBinary, ["tlsa", "--cert-name", name, "--next", "--config-dir", dir + "/le"], timeout: 30)
        #expect(!result.stdout.uppercased().contains(outside.digest), "printed a record for the key outside the tree: \(result.output)")
        #expect(result.status == 2, "\(result.output)")
        let errors = result.stderr.split(separator: "\n").filter { $0.hasPrefix("error: ") }
        #expect(errors.count == 1 && (errors[0].contains("symbolic link") || errors[0].contains("points at")), "\(result.stderr)")
        #expect(try String(contentsOfFile: outside.path, encoding: .utf8) == before, "the key outside the tree was changed")
    }

    @Test("a renewal never certifies a next key reached through a link: it fails for that lineage and says why")
    func renewalNextKeyLink() throws {
        let pebble = try Pebble()
        let dir = try TestSupport.temporaryDirectory("linked-renew") + "/le"
        let name = "mx.example.test"
        let issued = try run(TestSupport.acmeBinary, ["issue", "-d", name] + pebble.acmeArguments(configDir: dir))
        #expect(issued.status == 0, "\(issued.output)")
        let outside = try Self.outsideKey(try TestSupport.temporaryDirectory("linked-renew-outside"))
        try Self.link(dir + "/archive/\(name)/.acme-next-privkey.pem", to: outside.path)
        let renewed = try run(TestSupport.acmeBinary, ["renew", "--force-renewal", "--no-random-sleep", "--config-dir", dir], timeout: 120)
        let live = try Self.spkiDigest(certificate: dir + "/live/\(name)/cert.pem")
        #expect(live != outside.digest, "the renewal certified the key outside the tree: \(renewed.output)")
        #expect(renewed.status == 1, "\(renewed.output)")
        #expect(renewed.stderr.contains("\(name): failed:") && renewed.stderr.contains("symbolic link"), "\(renewed.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/archive/\(name)/cert2.pem"), "a version was added")
        #expect(Self.isLink(dir + "/archive/\(name)/.acme-next-privkey.pem"))
    }

    @Test("a status file that is a link out of the tree: acme status refuses it, the daemon neither reads nor writes through it")
    func statusFileLink() throws {
        let (dir, _) = try HostileFilesTests.configWithLineage("linked-status")
        let le = dir + "/le"
        let now = ISO8601DateFormatter().string(from: Date())
        let forged = dir + "/forged-status.json"
        let text = """
            {"version": 1, "pid": 1, "started": "\(now)", "updated": "\(now)", "heartbeatSeconds": 900,
             "lineages": [{"name": "forged-lineage", "names": ["forged.example"], "nextAction": "renew", "failures": 0}],
             "incidents": {"open": {}}, "retries": {}, "heldBack": "forged-set"}
            """
        try text.write(toFile: forged, atomically: true, encoding: .utf8)
        let statusPath = le + "/.acme-daemon-status.json"
        try Self.link(statusPath, to: forged)

        let status = try run(TestSupport.acmeBinary, ["status", "--config-dir", le], timeout: 30)
        #expect(status.status == 2, "\(status.output)")
        #expect(!status.stdout.contains("forged") && status.stderr.contains("symbolic link"), "\(status.output)")

        let daemon = try DaemonProcess(["--no-provision", "--config-dir", le, "--retry-delay", "3600"], log: dir + "/daemon.log")
        try waitUntil("the daemon writes its status", timeout: 60) { !Self.isLink(statusPath) && FileManager.default.fileExists(atPath: statusPath) }
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit(timeout: 20) != nil)
        #expect(try String(contentsOfFile: forged, encoding: .utf8) == text, "the daemon wrote through the link")
        #expect(daemon.log.contains("starting without the previous status") && daemon.log.contains("symbolic link"), "\(daemon.log)")
        let written = try String(contentsOfFile: statusPath, encoding: .utf8)
        #expect(!written.contains("forged"), "the daemon adopted the linked file's state: \(written)")
    }

    @Test("an --env-file that is a link is refused at start without printing what it points at")
    func envFileLink() throws {
        let (dir, _) = try HostileFilesTests.configWithLineage("linked-env")
        let secret = dir + "/secret"
        try "root:TOPSECRET-hash-do-not-print:19000:0:99999:7:::\n".write(toFile: secret, atomically: true, encoding: .utf8)
        try Self.link(dir + "/mail.env", to: secret)
        let daemon = try DaemonProcess(["--no-provision", "--config-dir", dir + "/le", "--env-file", dir + "/mail.env"], log: dir + "/daemon.log")
        let exit = daemon.waitForExit(timeout: 30)
        #expect(exit != nil, "the daemon did not stop: \(daemon.log)")
        #expect(exit.map { ($0 >> 8) & 0xff } == 2, "\(daemon.log)")
        #expect(!daemon.log.contains("TOPSECRET"), "printed the file the link points at: \(daemon.log)")
        #expect(daemon.log.contains("symbolic link"), "\(daemon.log)")
    }
}
