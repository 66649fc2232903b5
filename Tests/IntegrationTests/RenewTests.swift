import Foundation
import TestFixtures
import Testing

/// `acme renew` and the lifecycle commands against a real Pebble, checked the way an
/// operator would: versions in live/, keys matching certificates, hooks' traces, the
/// CA's own view of a revocation.
@Suite("acme renew against Pebble", .serialized, .integration)
struct RenewTests {
    static func version(_ configDir: String, _ name: String) -> Int? {
        guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "\(configDir)/live/\(name)/cert.pem") else { return nil }
        return Int(target.split(separator: "/").last!.dropFirst(4).dropLast(4))
    }

    /// What a user checks after any run, killed or not: all four links point at one
    /// version, and privkey.pem is the key of cert.pem.
    static func consistent(_ configDir: String, _ name: String) throws -> Bool {
        let live = "\(configDir)/live/\(name)"
        let targets = try ["cert", "chain", "fullchain", "privkey"].map {
            try FileManager.default.destinationOfSymbolicLink(atPath: "\(live)/\($0).pem")
        }
        let versions = Set(targets.map { $0.split(separator: "/").last!.filter(\.isNumber) })
        let certKey = try run("/usr/bin/openssl", ["x509", "-in", live + "/cert.pem", "-noout", "-pubkey"])
        let privKey = try run("/usr/bin/openssl", ["pkey", "-in", live + "/privkey.pem", "-pubout"])
        return versions.count == 1 && certKey.status == 0 && !certKey.stdout.isEmpty && certKey.stdout == privKey.stdout
    }

    func issue(_ pebble: Pebble, _ dir: String, _ names: [String], extra: [String] = []) throws {
        let result = try run(TestSupport.acmeBinary, ["issue"] + names.flatMap { ["-d", $0] } + extra + pebble.acmeArguments(configDir: dir))
        #expect(result.status == 0, "acme issue: \(result.output)")
    }

    func renew(_ dir: String, _ extra: [String] = []) throws -> RunResult {
        try run(TestSupport.acmeBinary, ["renew", "--config-dir", dir, "--no-random-sleep"] + extra)
    }

    func setConf(_ dir: String, _ name: String, topLevel line: String) throws {
        let path = "\(dir)/renewal/\(name).conf"
        var conf = try String(contentsOfFile: path, encoding: .utf8)
        conf = line + "\n" + conf
        try conf.write(toFile: path, atomically: true, encoding: .utf8)
    }

    @Test("not due, due by renew_before_expiry, forced, dry run; one line per lineage")
    func windowForcedDryRun() throws {
        let pebble = try Pebble()
        let dir = try TestSupport.temporaryDirectory("renew-window") + "/le"
        try issue(pebble, dir, ["a.example.test"])
        try issue(pebble, dir, ["b.example.test"])

        let idle = try renew(dir)
        #expect(idle.status == 0, "\(idle.output)")
        #expect(idle.stdout.contains("a.example.test: not due until"), "\(idle.output)")
        #expect(idle.stdout.contains("b.example.test: not due until"), "\(idle.output)")
        #expect(idle.stdout.contains("(a third of the lifetime left)"), "\(idle.output)")
        #expect(Self.version(dir, "a.example.test") == 1)

        // A window longer than Pebble's certificates live: due now, only that lineage.
        try setConf(dir, "a.example.test", topLevel: "renew_before_expiry = 3650 days")
        let due = try renew(dir)
        #expect(due.status == 0, "\(due.output)")
        #expect(due.stdout.contains("a.example.test: renewed (renew_before_expiry = 3650 days); version 2"), "\(due.output)")
        #expect(due.stdout.contains("b.example.test: not due until"), "\(due.output)")
        #expect(Self.version(dir, "a.example.test") == 2)
        #expect(Self.version(dir, "b.example.test") == 1)
        #expect(try Self.consistent(dir, "a.example.test"))
        let conf = try String(contentsOfFile: dir + "/renewal/a.example.test.conf", encoding: .utf8)
        #expect(conf.contains("renew_before_expiry = 3650 days"), "the user's window was lost: \(conf)")

        let forced = try renew(dir, ["--cert-name", "b.example.test", "--force-renewal"])
        #expect(forced.status == 0, "\(forced.output)")
        #expect(forced.stdout.contains("b.example.test: renewed (forced); version 2"), "\(forced.output)")
        #expect(!forced.stdout.contains("a.example.test"), "--cert-name did not limit the run: \(forced.output)")

        let before = LineageChecks.snapshot(dir)
        let archiveBefore = try FileManager.default.contentsOfDirectory(atPath: dir + "/archive/b.example.test").sorted()
        let dry = try renew(dir, ["--dry-run"])
        #expect(dry.status == 0, "\(dry.output)")
        #expect(dry.stdout.contains("b.example.test: dry run succeeded"), "\(dry.output)")
        #expect(LineageChecks.snapshot(dir) == before, "--dry-run changed live/")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/archive/b.example.test").sorted() == archiveBefore)

        // A lineage that does not exist is a usage error, as in delete, revoke and tlsa.
        let missing = try renew(dir, ["--cert-name", "nope.example.test"])
        #expect(missing.status == 64)
        #expect(missing.stderr.contains("error: no certificate named nope.example.test"), "\(missing.output)")
    }

    @Test("hooks: pre once, deploy per lineage with RENEWED_LINEAGE/RENEWED_DOMAINS, post once; directory hooks; a failing hook keeps the renewal")
    func hooks() throws {
        let pebble = try Pebble()
        let dir = try TestSupport.temporaryDirectory("renew-hooks") + "/le"
        try issue(pebble, dir, ["h1.example.test", "www.h1.example.test"])
        try issue(pebble, dir, ["h2.example.test"])
        let log = dir + "/../hooks.log"
        for kind in ["pre", "deploy", "post"] {
            let hookDir = "\(dir)/renewal-hooks/\(kind)"
            try FileManager.default.createDirectory(atPath: hookDir, withIntermediateDirectories: true)
            try "#!/bin/sh\necho \"dir-\(kind) ${RENEWED_LINEAGE:-none}\" >> \(log)\n".write(toFile: hookDir + "/10-log", atomically: true, encoding: .utf8)
            chmod(hookDir + "/10-log", 0o755)
            try "not executable".write(toFile: hookDir + "/README", atomically: true, encoding: .utf8)
        }
        let result = try renew(dir, ["--force-renewal",
                                     "--pre-hook", "echo pre >> \(log)",
                                     "--deploy-hook", "echo \"deploy $RENEWED_LINEAGE [$RENEWED_DOMAINS]\" >> \(log)",
                                     "--post-hook", "echo post >> \(log)"])
        #expect(result.status == 0, "\(result.output)")
        let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(lines == [
            "dir-pre none", "pre",
            "dir-deploy \(dir)/live/h1.example.test", "deploy \(dir)/live/h1.example.test [h1.example.test www.h1.example.test]",
            "dir-deploy \(dir)/live/h2.example.test", "deploy \(dir)/live/h2.example.test [h2.example.test]",
            "dir-post none", "post",
        ], "hook order/environment: \(lines)")
        // Saved like certbot (deploy hook as renew_hook), and used by the next run.
        let conf = try String(contentsOfFile: dir + "/renewal/h2.example.test.conf", encoding: .utf8)
        #expect(conf.contains("renew_hook = echo \"deploy $RENEWED_LINEAGE [$RENEWED_DOMAINS]\" >> \(log)"), "\(conf)")

        // Nothing due: no hook runs at all.
        try FileManager.default.removeItem(atPath: log)
        let idle = try renew(dir)
        #expect(idle.status == 0, "\(idle.output)")
        #expect(!FileManager.default.fileExists(atPath: log), "a hook ran although nothing was renewed")

        // A failing deploy hook: reported, exit 1, and the new certificate stays.
        let failing = try renew(dir, ["--cert-name", "h2.example.test", "--force-renewal", "--no-directory-hooks",
                                      "--deploy-hook", "echo reload failed >&2; exit 3"])
        #expect(failing.status == 1, "\(failing.output)")
        #expect(failing.stderr.contains("deploy hook echo reload failed >&2; exit 3 failed with exit status 3"), "\(failing.output)")
        #expect(failing.stdout.contains("h2.example.test: renewed"), "\(failing.output)")
        #expect(Self.version(dir, "h2.example.test") == 3)
        // The saved pre and post hooks ran again; the directory hooks did not.
        let last = try String(contentsOfFile: log, encoding: .utf8)
        #expect(last == "pre\npost\n", "with --no-directory-hooks: \(last)")
    }

    @Test("revoke by account and by certificate key: Pebble reports the serials revoked")
    func revoke() throws {
        let pebble = try Pebble()
        let dir = try TestSupport.temporaryDirectory("revoke") + "/le"
        try issue(pebble, dir, ["r.example.test"])
        func status(_ certPath: String) throws -> String {
            let serial = try run("/usr/bin/openssl", ["x509", "-in", certPath, "-noout", "-serial"]).stdout
                .trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: "serial=", with: "").lowercased()
            let trimmed = String(serial.drop { $0 == "0" })
            return try run("/usr/bin/curl", ["-s", "--cacert", pebble.caBundle,
                                             "https://127.0.0.1:\(pebble.managementPort)/cert-status-by-serial/\(trimmed)"]).stdout
        }
        let cert = dir + "/live/r.example.test/cert.pem"
        let before = try status(cert)
        #expect(before.contains("Valid"), "before: \(before)")
        let revoked = try run(TestSupport.acmeBinary, ["revoke", "--cert-name", "r.example.test", "--reason", "superseded", "--config-dir", dir])
        #expect(revoked.status == 0, "\(revoked.output)")
        let after = try status(cert)
        #expect(after.contains("Revoked"), "Pebble's view: \(after)")

        // With the certificate's own key, no account involved.
        try String(contentsOfFile: cert, encoding: .utf8).write(toFile: dir + "/../old-cert.pem", atomically: true, encoding: .utf8)
        let forced = try renew(dir, ["--force-renewal"])
        #expect(forced.status == 0, "\(forced.output)")
        let byKey = try run(TestSupport.acmeBinary, ["revoke", "--cert-path", cert, "--key-path", dir + "/live/r.example.test/privkey.pem",
                                                     "--reason", "key-compromise", "--server", pebble.directoryURL,
                                                     "--ca-bundle", pebble.caBundle, "--config-dir", dir])
        #expect(byKey.status == 0, "\(byKey.output)")
        #expect(try status(cert).contains("Revoked"))

        let wrongKey = try run(TestSupport.acmeBinary, ["revoke", "--cert-path", dir + "/../old-cert.pem", "--key-path", dir + "/live/r.example.test/privkey.pem",
                                                        "--server", pebble.directoryURL, "--ca-bundle", pebble.caBundle, "--config-dir", dir])
        #expect(wrongKey.status == 64, "\(wrongKey.output)")
        #expect(wrongKey.stderr.contains("is not the private key of"), "\(wrongKey.output)")
    }

    @Test("account key rollover: same account id, new key on disk, renewals keep working")
    func keyRollover() throws {
        let pebble = try Pebble()
        let dir = try TestSupport.temporaryDirectory("rollover") + "/le"
        try issue(pebble, dir, ["k.example.test"])
        let accounts = dir + "/accounts/localhost:\(pebble.acmePort)/dir"
        let id = try FileManager.default.contentsOfDirectory(atPath: accounts)[0]
        let oldKey = try String(contentsOfFile: "\(accounts)/\(id)/private_key.json", encoding: .utf8)
        let rolled = try run(TestSupport.acmeBinary, ["account", "key-rollover", "--account-key-type", "ec256",
                                                      "--server", pebble.directoryURL, "--ca-bundle", pebble.caBundle, "--config-dir", dir])
        #expect(rolled.status == 0, "\(rolled.output)")
        let newKey = try String(contentsOfFile: "\(accounts)/\(id)/private_key.json", encoding: .utf8)
        #expect(newKey != oldKey && newKey.contains("\"kty\":\"EC\""), "\(newKey)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: accounts) == [id])
        #expect(!FileManager.default.fileExists(atPath: "\(accounts)/\(id)/private_key.next.json"), "the pending key was left behind")
        let mode = try FileManager.default.attributesOfItem(atPath: "\(accounts)/\(id)/private_key.json")[.posixPermissions] as? Int
        #expect(mode == 0o400)
        // The CA accepts the new key for the same account.
        let renewed = try renew(dir, ["--force-renewal"])
        #expect(renewed.status == 0, "\(renewed.output)")
        let show = try run(TestSupport.acmeBinary, ["account", "show", "--server", pebble.directoryURL, "--ca-bundle", pebble.caBundle, "--config-dir", dir])
        #expect(show.stdout.contains("status:   valid"), "\(show.output)")
    }

    @Test("certificates lists, --json parses; delete removes the lineage")
    func certificatesAndDelete() throws {
        let pebble = try Pebble()
        let dir = try TestSupport.temporaryDirectory("list") + "/le"
        try issue(pebble, dir, ["l.example.test", "m.example.test"], extra: ["--key-type", "rsa2048"])
        let text = try run(TestSupport.acmeBinary, ["certificates", "--config-dir", dir])
        #expect(text.status == 0)
        #expect(text.stdout.contains("domains:  l.example.test m.example.test"), "\(text.output)")
        #expect(text.stdout.contains("key:      rsa2048") || text.stdout.contains("key:      RSA"), "\(text.output)")
        #expect(text.stdout.contains("status:   valid"), "\(text.output)")
        let json = try run(TestSupport.acmeBinary, ["certificates", "--json", "--config-dir", dir])
        let list = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]]
        #expect(list?.count == 1)
        #expect(list?.first?["name"] as? String == "l.example.test")
        #expect((list?.first?["daysLeft"] as? Int ?? 0) > 30, "\(json.stdout)")
        #expect(list?.first?["certificatePath"] as? String == dir + "/live/l.example.test/fullchain.pem")

        let deleted = try run(TestSupport.acmeBinary, ["delete", "--cert-name", "l.example.test", "--config-dir", dir])
        #expect(deleted.status == 0, "\(deleted.output)")
        for path in ["/live/l.example.test", "/archive/l.example.test", "/renewal/l.example.test.conf"] {
            #expect(!FileManager.default.fileExists(atPath: dir + path), "\(path) survived delete")
        }
        let again = try run(TestSupport.acmeBinary, ["delete", "--cert-name", "l.example.test", "--config-dir", dir])
        #expect(again.status == 64 && again.stderr.contains("no certificate named l.example.test"), "\(again.output)")
        let bad = try run(TestSupport.acmeBinary, ["delete", "--cert-name", "../etc", "--config-dir", dir])
        #expect(bad.status != 0 && bad.stderr.contains("invalid certificate name"), "\(bad.output)")
    }

    @Test("an unreachable CA: lineages are decided by their expiry dates, and that is said")
    func unreachableServer() throws {
        let pebble = try Pebble()
        let dir = try TestSupport.temporaryDirectory("offline") + "/le"
        try issue(pebble, dir, ["o.example.test"])
        pebble.stop()
        let result = try renew(dir)
        #expect(result.status == 0, "\(result.output)")
        #expect(result.stderr.contains("cannot reach \(pebble.directoryURL)"), "\(result.output)")
        #expect(result.stderr.contains("deciding its 1 certificate by their expiry dates"), "\(result.output)")
        #expect(result.stdout.contains("o.example.test: not due until"), "\(result.output)")
    }

    @Test("--reuse-key keeps the key across renewals; without it every renewal has a new key; one failing lineage does not stop the others")
    func reuseKeyAndPartialFailure() throws {
        let pebble = try Pebble()
        let dir = try TestSupport.temporaryDirectory("reuse") + "/le"
        try issue(pebble, dir, ["dane.example.test"], extra: ["--reuse-key"])
        try issue(pebble, dir, ["fresh.example.test"])
        try issue(pebble, dir, ["nginx.example.test"])
        // A lineage certbot's nginx plugin would renew: not ours to renew, and said so.
        let nginxConf = dir + "/renewal/nginx.example.test.conf"
        let text = try String(contentsOfFile: nginxConf, encoding: .utf8).replacingOccurrences(of: "authenticator = standalone", with: "authenticator = nginx")
        try text.write(toFile: nginxConf, atomically: true, encoding: .utf8)
        func key(_ name: String) throws -> String { try String(contentsOfFile: "\(dir)/live/\(name)/privkey.pem", encoding: .utf8) }
        let daneKey = try key("dane.example.test"), freshKey = try key("fresh.example.test")

        let result = try renew(dir, ["--force-renewal"])
        #expect(result.status == 1, "\(result.output)")
        #expect(result.stderr.contains("nginx.example.test: failed: renewal conf \(nginxConf): authenticator nginx is not supported"), "\(result.output)")
        #expect(result.stdout.contains("dane.example.test: renewed") && result.stdout.contains("fresh.example.test: renewed"), "\(result.output)")
        #expect(try key("dane.example.test") == daneKey, "--reuse-key lineage got a new key")
        #expect(try key("fresh.example.test") != freshKey, "a lineage without reuse_key kept its key")
        #expect(try Self.consistent(dir, "dane.example.test") && Self.consistent(dir, "fresh.example.test"))
        let conf = try String(contentsOfFile: dir + "/renewal/dane.example.test.conf", encoding: .utf8)
        #expect(conf.contains("reuse_key = True"), "\(conf)")
        #expect(Self.version(dir, "nginx.example.test") == 1)
    }

    @Test("issue runs its hooks only when it contacts the CA: pre, deploy with the lineage, post; a not-due rerun runs none")
    func issueHooks() throws {
        let pebble = try Pebble()
        let dir = try TestSupport.temporaryDirectory("issue-hooks") + "/le"
        let log = dir + "/../issue-hooks.log"
        let hooks = ["--pre-hook", "echo pre >> \(log)", "--deploy-hook", "echo \"deploy $RENEWED_DOMAINS\" >> \(log)",
                     "--post-hook", "echo post >> \(log)"]
        try issue(pebble, dir, ["ih.example.test"], extra: hooks)
        #expect(try String(contentsOfFile: log, encoding: .utf8) == "pre\ndeploy ih.example.test\npost\n")
        try issue(pebble, dir, ["ih.example.test"], extra: hooks)
        #expect(try String(contentsOfFile: log, encoding: .utf8) == "pre\ndeploy ih.example.test\npost\n", "hooks ran for a not-due certificate")
    }
}
