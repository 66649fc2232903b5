import Foundation
import TestFixtures
import Testing

/// DANE-safe key rollover against Pebble and a real BIND: what `dig` finds in the zone after each
/// `acme renew` run, with a TTL of 1 s (so two TTLs are 2 s). At every step the key of the live
/// certificate must have its `3 1 1` record in the zone.
@Suite("DANE key rollover against Pebble and BIND", .serialized, .integration)
struct DANETests {
    /// The records' TTL. The rollover waits 2 × TTL between steps; the tests do not sleep through
    /// them but run `acme renew` with its clock moved forward (`at:`, ACME_TEST_CLOCK_OFFSET), so a
    /// step that must be held is held however slow the machine, and one that may go on goes on.
    static let ttl = 300
    /// How far to move the clock for "two TTLs later".
    static let twoTTLs = 2 * ttl + 1

    /// `3 1 1 <sha256 of the SPKI>` of a certificate or key file, computed with openssl (not acme's code).
    static func record(certificate path: String) throws -> String {
        try spkiRecord("openssl x509 -in '\(path)' -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum")
    }

    static func record(key path: String) throws -> String {
        try spkiRecord("openssl pkey -in '\(path)' -pubout -outform DER | sha256sum")
    }

    static func spkiRecord(_ pipeline: String) throws -> String {
        let result = try run("/bin/sh", ["-c", pipeline])
        guard result.status == 0, let hash = result.stdout.split(separator: " ").first, hash.count == 64 else {
            throw TestFailure("cannot hash a public key: \(result.output)")
        }
        return "3 1 1 \(hash)"
    }

    /// Issues with DNS-01 by RFC 2136 (once `_25._tcp.<name>` exists, BIND's wildcard A record no
    /// longer answers for `<name>`, so HTTP-01 would fail on renewal), plus `dane`.
    func issue(_ pebble: Pebble, _ bind: Bind, _ dir: String, name: String, dane: [String]) throws -> RunResult {
        try run(TestSupport.acmeBinary, ["issue", "-d", name, "--dns-rfc2136", "127.0.0.1:\(bind.port)", "--tsig-key", bind.keyFile,
                                         "--dane", "--dane-ttl", String(Self.ttl)] + dane
                + ["--server", pebble.directoryURL, "--ca-bundle", pebble.caBundle, "--config-dir", dir + "/le", "--agree-tos"])
    }

    /// `acme renew`, its clock `offset` seconds ahead of the real one.
    func renew(_ dir: String, force: Bool = false, at offset: Int = 0, extra: [String] = []) throws -> RunResult {
        try run(TestSupport.acmeBinary, ["renew", "--no-random-sleep", "--config-dir", dir + "/le"] + (force ? ["--force-renewal"] : []) + extra,
                environment: ["ACME_TEST_CLOCK_OFFSET": String(offset)])
    }

    /// The served (live) key's record is in the zone; returns the zone's records.
    @discardableResult
    func expectLiveCovered(_ bind: Bind, _ dir: String, name: String, step: String) throws -> (records: Set<String>, live: String) {
        let records = try bind.tlsa("_25._tcp.\(name)")
        let live = try Self.record(certificate: "\(dir)/le/live/\(name)/cert.pem")
        #expect(records.contains(live), "\(step): the live key \(live) is not covered by \(records)")
        return (records, live)
    }

    @Test("a full rollover over several renew runs: next published beside current, used after 2 × TTL, the old record removed 2 × TTL later, the live key always covered")
    func fullRollover() throws {
        let bind = try Bind()
        let pebble = try Pebble(dnsServerPort: bind.port)
        let dir = try TestSupport.temporaryDirectory("dane")
        let name = "mx.example.test"
        let started = Date()
        // DANE publishes through the DNS-01 settings (no --dane-rfc2136).
        let issued = try issue(pebble, bind, dir, name: name, dane: [])
        #expect(issued.status == 0, "\(issued.output)\n\(bind.log())")
        let nextKey = "\(dir)/le/archive/\(name)/.acme-next-privkey.pem"
        let first = try expectLiveCovered(bind, dir, name: name, step: "after issue")
        let next1 = try Self.record(key: nextKey)
        #expect(first.records == [first.live, next1], "after issue: want the current and the next key's record")
        let conf = try String(contentsOfFile: "\(dir)/le/renewal/\(name).conf", encoding: .utf8)
        #expect(conf.contains("acme_dane = True") && conf.contains("acme_dane_owners = _25._tcp.mx.example.test.,")
                && conf.contains("acme_dane_rfc2136_server = 127.0.0.1:\(bind.port)") && conf.contains("acme_dane_ttl = \(Self.ttl)"), "\(conf)")
        let secret = try String(contentsOfFile: bind.keyFile, encoding: .utf8).components(separatedBy: "\"")[3]
        #expect(!conf.contains(secret) && !issued.output.contains(secret), "the TSIG secret was written or printed")
        let state = "\(dir)/le/archive/\(name)/.acme-dane.json"
        #expect(try String(contentsOfFile: state, encoding: .utf8).contains("\"role\" : \"next\""))
        #expect((try FileManager.default.attributesOfItem(atPath: nextKey)[.posixPermissions] as? Int) == 0o600)

        // Due at once (forced), but the next record was seen only now: held, exit 0, nothing changed.
        let held = try renew(dir, force: true)
        #expect(held.status == 0, "\(held.output)")
        #expect(held.stdout.contains("\(name): due, waiting for the DANE record of the next key:") && held.stdout.contains(" left (visible at every authoritative server since"), "\(held.output)")
        let heldStep = try expectLiveCovered(bind, dir, name: name, step: "held")
        #expect(heldStep.live == first.live && heldStep.records == first.records)

        // Two TTLs later: the renewal uses the next key; the old record stays.
        var clock = Self.twoTTLs
        let renewed = try renew(dir, force: true, at: clock)
        #expect(renewed.status == 0 && renewed.stdout.contains("\(name): renewed"), "\(renewed.output)")
        let second = try expectLiveCovered(bind, dir, name: name, step: "renewed")
        #expect(second.live == next1, "the renewal did not use the key whose record was published")
        #expect(second.records == [first.live, next1], "after the renewal: want the old and the new key's record, got \(second.records)")

        // Right after: not yet two TTLs since the renewal, nothing removed.
        let early = try renew(dir, at: clock)
        #expect(early.status == 0, "\(early.output)")
        try expectLiveCovered(bind, dir, name: name, step: "early")

        // Two TTLs later: the old record goes, the following key's record comes.
        clock += Self.twoTTLs
        let cleaned = try renew(dir, at: clock)
        #expect(cleaned.status == 0, "\(cleaned.output)")
        let third = try expectLiveCovered(bind, dir, name: name, step: "cleaned")
        let next2 = try Self.record(key: nextKey)
        #expect(next2 != next1)
        #expect(third.records == [second.live, next2], "after the old record's removal: want current and the new next, got \(third.records)")
        let elapsed = Date().timeIntervalSince(started)
        print("DANE rollover: issue to completed rollover \(String(format: "%.1f", elapsed)) s of real time (the 2 × 2 × TTL waits on a moved clock)")

        // acme tlsa --check agrees: current and next found, no endpoint → the current key must be covered.
        let check = try run(TestSupport.acmeBinary, ["tlsa", "--check", "--cert-name", name, "--config-dir", dir + "/le",
                                                     "--endpoint", "smtp://127.0.0.1:\(TestSupport.freePort())"])
        #expect(check.status == 0, "\(check.output)")
        #expect(check.stdout.contains("current key") && check.stdout.contains("next key"), "\(check.output)")
        #expect(check.stderr.contains("cannot fetch the key"), "\(check.output)")

        // A damaged state file: the lineage fails with a line naming the file; nothing is deployed or changed in DNS.
        let statePath = "\(dir)/le/archive/\(name)/.acme-dane.json"
        try "{\"version\": 1, \"entries\": [{\"role\": \"next\"".write(toFile: statePath, atomically: true, encoding: .utf8)
        clock += Self.twoTTLs
        let damaged = try renew(dir, force: true, at: clock)
        #expect(damaged.status == 1, "\(damaged.output)")
        #expect(damaged.stderr.contains("\(name): failed: DANE: the DANE state \(statePath) is damaged"), "\(damaged.output)")
        let after = try expectLiveCovered(bind, dir, name: name, step: "damaged state")
        #expect(after.live == third.live && after.records == third.records, "something changed on account of a damaged state file")
    }

    @Test("a renewal held while one authoritative server does not serve the next record: renew names it and exits 0; nothing deployed")
    func heldAtLaggingServer() throws {
        let bind = try Bind()
        let pebble = try Pebble(dnsServerPort: bind.port)
        let dir = try TestSupport.temporaryDirectory("dane-lag")
        let name = "mx.lagging.test"
        // HTTP-01: DNS-01 in this zone cannot pass (ns2 never serves the TXT record either).
        let issued = try run(TestSupport.acmeBinary, ["issue", "-d", name, "--http-01-port", String(pebble.httpPort), "--http-01-address", "127.0.0.1",
                                                      "--dane", "--dane-ttl", String(Self.ttl), "--dane-rfc2136", "127.0.0.1:\(bind.port)", "--tsig-key", bind.keyFile,
                                                      "--server", pebble.directoryURL, "--ca-bundle", pebble.caBundle, "--config-dir", dir + "/le", "--agree-tos"])
        #expect(issued.status == 0, "\(issued.output)\n\(bind.log())")
        let before = try expectLiveCovered(bind, dir, name: name, step: "after issue")
        for _ in 0..<2 {
            let held = try renew(dir, force: true)
            #expect(held.status == 0, "\(held.output)")
            #expect(held.stdout.contains("\(name): due, waiting for the DANE record of the next key"), "\(held.output)")
            #expect(held.stdout.contains("not visible at ns2.lagging.test (127.0.0.2:\(bind.port)"), "\(held.output)")
            #expect(!held.stdout.contains("not visible at ns1.lagging.test"), "\(held.output)")
            let now = try expectLiveCovered(bind, dir, name: name, step: "held")
            #expect(now.live == before.live, "a key whose record is not visible everywhere was deployed")
        }
        // acme tlsa --check also sees that ns2 cannot be asked.
        let check = try run(TestSupport.acmeBinary, ["tlsa", "--check", "--cert-name", name, "--config-dir", dir + "/le",
                                                     "--endpoint", "smtp://127.0.0.1:\(TestSupport.freePort())"])
        #expect(check.status != 0 && check.stderr.contains("ns2.lagging.test"), "\(check.output)")
    }

    @Test("the hook variant (ACME_ACTION=tlsa-add|tlsa-remove calling nsupdate), killed with SIGKILL right after the renewal and in the middle of removing the old record; the next runs complete the rollover")
    func hookAndKill() throws {
        let bind = try Bind()
        let pebble = try Pebble(dnsServerPort: bind.port)
        let dir = try TestSupport.temporaryDirectory("dane-hook")
        let name = "hook.example.test"
        let log = dir + "/hook.log", killFile = dir + "/kill-on"
        let nsupdate = try TestSupport.require("nsupdate")
        let hook = dir + "/tlsa-hook.sh"
        try """
        #!/bin/sh
        echo "$ACME_ACTION|$ACME_TLSA_OWNER|$ACME_TLSA_RECORD|$ACME_TLSA_TTL|$ACME_TLSA_ZONE|$ACME_TLSA_ROLE|$ACME_LINEAGE" >> '\(log)'
        case "$ACME_ACTION" in
          tlsa-add) change="add $ACME_TLSA_OWNER $ACME_TLSA_TTL TLSA $ACME_TLSA_RECORD" ;;
          tlsa-remove) change="delete $ACME_TLSA_OWNER TLSA $ACME_TLSA_RECORD" ;;
          *) exit 2 ;;
        esac
        printf 'server 127.0.0.1 \(bind.port)\\nzone %s\\nupdate %s\\nsend\\n' "$ACME_TLSA_ZONE" "$change" | '\(nsupdate)' -k '\(bind.keyFile)' || exit 1
        if [ -f '\(killFile)' ] && [ "$ACME_ACTION" = "$(cat '\(killFile)')" ]; then rm -f '\(killFile)'; p=$PPID; [ "$(cat /proc/$p/comm)" = acme ] || p=$(cut -d' ' -f4 /proc/$p/stat); kill -9 $p; fi
        exit 0

        """.write(toFile: hook, atomically: true, encoding: .utf8)
        chmod(hook, 0o755)
        let issued = try issue(pebble, bind, dir, name: name, dane: ["--dane-hook", hook, "--dane-resolver", "127.0.0.1:\(bind.port)"])
        #expect(issued.status == 0, "\(issued.output)\n\(bind.log())")
        let first = try expectLiveCovered(bind, dir, name: name, step: "after issue")
        #expect(first.records.count == 2, "\(first.records)")
        let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 2 && lines.allSatisfy { $0.hasPrefix("tlsa-add|_25._tcp.\(name).|3 1 1 ") && $0.contains("|\(Self.ttl)|example.test.|") && $0.hasSuffix("|\(name)") },
                "\(lines)")
        #expect(lines.first?.contains("|current|") == true && lines.last?.contains("|next|") == true, "\(lines)")

        _ = try renew(dir, force: true)  // starts the clock
        var clock = Self.twoTTLs
        // Killed in the deploy hook: the new certificate is live, the rollover state not yet told.
        let killer = dir + "/kill-in-deploy.sh"
        try """
        #!/bin/sh
        if [ -f '\(killFile)' ] && [ "$(cat '\(killFile)')" = deploy ]; then rm -f '\(killFile)'; p=$PPID; [ "$(cat /proc/$p/comm)" = acme ] || p=$(cut -d' ' -f4 /proc/$p/stat); kill -9 $p; fi

        """.write(toFile: killer, atomically: true, encoding: .utf8)
        chmod(killer, 0o755)
        try "deploy".write(toFile: killFile, atomically: true, encoding: .utf8)
        let renewed = try renew(dir, force: true, at: clock, extra: ["--deploy-hook", killer])
        #expect(renewed.status != 0 && !FileManager.default.fileExists(atPath: killFile), "the run was not killed in the deploy hook: \(renewed.output)")
        let second = try expectLiveCovered(bind, dir, name: name, step: "killed after the renewal")
        #expect(second.records == first.records.union([second.live]) && second.records.count == 2, "\(second.records)")
        // The next run notices the new key: the old record starts retiring, nothing is removed yet.
        let noticed = try renew(dir, at: clock)
        #expect(noticed.status == 0, "\(noticed.output)")
        #expect(try expectLiveCovered(bind, dir, name: name, step: "noticed").records == second.records)

        // Killed right after the hook removed the old record, before acme wrote that down.
        try "tlsa-remove".write(toFile: killFile, atomically: true, encoding: .utf8)
        clock += Self.twoTTLs
        let killed = try renew(dir, at: clock)
        #expect(killed.status == 137 || killed.status == 9 || killed.status != 0, "the run was not killed: \(killed.output)")
        #expect(!FileManager.default.fileExists(atPath: killFile), "the hook never reached the kill point")
        try expectLiveCovered(bind, dir, name: name, step: "after the kill")

        let resumed = try renew(dir, at: clock)
        #expect(resumed.status == 0, "\(resumed.output)")
        let third = try expectLiveCovered(bind, dir, name: name, step: "resumed")
        let next = try Self.record(key: "\(dir)/le/archive/\(name)/.acme-next-privkey.pem")
        #expect(third.records == [second.live, next], "after the resumed run: want current and next, got \(third.records)")
        let all = try String(contentsOfFile: log, encoding: .utf8)
        #expect(all.components(separatedBy: "tlsa-remove|").count - 1 == 2, "the interrupted removal was not repeated exactly once: \(all)")
    }

    @Test("acme daemon drives a rollover: held (not failed) until the next record is old enough, renewed with that key, the old record removed; a bounded number of rounds")
    func daemonRollover() throws {
        let bind = try Bind()
        let double = try ACMEDouble()
        let dir = try TestSupport.temporaryDirectory("dane-daemon")
        let le = dir + "/le"
        let name = "mx.example.test"
        try issueFromDouble(double, configDir: le, name: name,
                            extra: ["--dane", "--dane-ttl", "2", "--dane-rfc2136", "127.0.0.1:\(bind.port)", "--tsig-key", bind.keyFile])
        let first = try expectLiveCovered(bind, dir, name: name, step: "after issue")
        let next1 = try Self.record(key: "\(le)/archive/\(name)/.acme-next-privkey.pem")
        // The CA's window is in the past: due at the daemon's first look.
        try double.setWindow(startDays: -2, endDays: -1)
        let daemon = try DaemonProcess(["--no-provision"] + ["--server", double.directoryURL, "--ca-bundle", double.caBundle, "--config-dir", le],
                                       log: dir + "/daemon.log")
        var uncovered: [String] = []
        try waitUntil("the daemon completes the rollover", timeout: 90, interval: 0.25) {
            let records = try bind.tlsa("_25._tcp.\(name)")
            let live = try Self.record(certificate: "\(le)/live/\(name)/cert.pem")
            if !records.contains(live) { uncovered.append("\(live) not in \(records)") }
            return live == next1 && !records.contains(first.live) && records.count == 2
        }
        #expect(uncovered.isEmpty, "the live key was not covered: \(uncovered)")
        // The CA's window stays in the past, but the renewed lineage is calm now: no second rollover.
        let done = try bind.tlsa("_25._tcp.\(name)")
        Thread.sleep(forTimeInterval: 6)
        #expect(try bind.tlsa("_25._tcp.\(name)") == done)
        #expect(daemon.lines(containing: "renewed").count == 1, "\(daemon.log)")
        let lines = daemon.log.split(separator: "\n")
        let renewedAt = lines.firstIndex { $0.contains(" renewed ") } ?? 0
        #expect(!lines[renewedAt...].contains { $0.contains(" held ") }, "held again after the renewal: \(daemon.log)")
        #expect(daemon.lines(containing: "held").count >= 1, "the renewal was never held: \(daemon.log)")
        #expect(daemon.lines(containing: "renewal-failed").isEmpty, "\(daemon.log)")
        // Wake-ups at the rollover's times, not a spin: a handful of held rounds for a 4 s wait.
        #expect(daemon.lines(containing: "held").count <= 8, "\(daemon.log)")
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit(timeout: 20) != nil)
    }

    @Test("a certificate that would expire before the next key may be used is renewed with the current key, loudly; the rollover waits for the next renewal")
    func expiryFirst() throws {
        let bind = try Bind()
        let double = try ACMEDouble()
        // 2-minute certificates and a 1-hour TTL: waiting 2 h would outlive the certificate.
        try double.setControl(["lifetime_seconds": 120])
        let dir = try TestSupport.temporaryDirectory("dane-expiry")
        let le = dir + "/le"
        let name = "mx.example.test"
        try issueFromDouble(double, configDir: le, name: name,
                            extra: ["--dane", "--dane-ttl", "3600", "--dane-rfc2136", "127.0.0.1:\(bind.port)", "--tsig-key", bind.keyFile])
        let first = try expectLiveCovered(bind, dir, name: name, step: "after issue")
        let nextKey = "\(le)/archive/\(name)/.acme-next-privkey.pem"
        let next = try Self.record(key: nextKey)
        let renewed = try run(TestSupport.acmeBinary, ["renew", "--no-random-sleep", "--force-renewal", "--config-dir", le])
        #expect(renewed.status == 0 && renewed.stdout.contains("\(name): renewed"), "\(renewed.output)")
        #expect(renewed.stderr.contains("warning: \(name) expires") && renewed.stderr.contains("renewing with the current key"), "\(renewed.output)")
        let after = try expectLiveCovered(bind, dir, name: name, step: "renewed near expiry")
        #expect(after.live == first.live, "a key without a long-visible record was deployed")
        #expect(after.records == [first.live, next], "\(after.records)")
        #expect(try Self.record(key: nextKey) == next, "the prepared next key was thrown away")
    }

    @Test("acme tlsa --check: the served key against the records at every authoritative server; exit 1 when it is not covered; a warning without DNSSEC")
    func check() throws {
        let bind = try Bind()
        let pebble = try Pebble(dnsServerPort: bind.port)
        let dir = try TestSupport.temporaryDirectory("dane-check")
        let name = "mx.example.test"
        let issued = try issue(pebble, bind, dir, name: name, dane: [])
        #expect(issued.status == 0, "\(issued.output)")
        let live = "\(dir)/le/live/\(name)"
        // Another key, whose record is nowhere: what a server with a stray certificate would serve.
        let stray = dir + "/stray"
        let made = try run("/usr/bin/openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", stray + ".key",
                                                "-out", stray + ".pem", "-days", "2", "-subj", "/CN=\(name)"])
        #expect(made.status == 0, "\(made.output)")
        let openssl = try TestSupport.require("openssl")
        func serving(_ cert: String, _ key: String, _ body: (Int) throws -> Void) throws {
            let port = TestSupport.freePort()
            let pid = try spawnLogging(openssl, ["s_server", "-accept", "127.0.0.1:\(port)", "-cert", cert, "-key", key, "-www"], log: dir + "/s_server.log", append: true)
            defer { kill(pid, SIGKILL); var status: Int32 = 0; waitpid(pid, &status, 0) }
            try TestSupport.waitForPort(port, timeout: 60)
            try body(port)
        }
        func tlsaCheck(_ port: Int) throws -> RunResult {
            try run(TestSupport.acmeBinary, ["tlsa", "--check", "--cert-name", name, "--config-dir", dir + "/le",
                                             "--endpoint", "smtps://127.0.0.1:\(port)", "--resolver", "127.0.0.1:\(bind.port)"])
        }
        let current = try Self.record(certificate: live + "/cert.pem")
        try serving(live + "/cert.pem", live + "/privkey.pem") { port in
            let result = try tlsaCheck(port)
            #expect(result.status == 0, "\(result.output)")
            #expect(result.stdout.contains("smtps://127.0.0.1:\(port) serves the key \(current) (the current key)"), "\(result.output)")
            #expect(result.stdout.contains("ns1.example.test (127.0.0.1:\(bind.port)): \(current)  ; current key, served"), "\(result.output)")
            #expect(result.stdout.contains("; next key"), "\(result.output)")
            // BIND here signs nothing: the answer carries no AD bit.
            #expect(result.stderr.contains("warning: _25._tcp.\(name).: the answer of the resolver 127.0.0.1:\(bind.port) is not DNSSEC-authenticated"), "\(result.output)")
        }
        try serving(stray + ".pem", stray + ".key") { port in
            let result = try tlsaCheck(port)
            #expect(result.status == 1, "\(result.output)")
            #expect(result.stdout.contains("not this lineage's current key"), "\(result.output)")
            #expect(result.stderr.contains("problem: _25._tcp.\(name). at ns1.example.test (127.0.0.1:\(bind.port)): no record matches the served key"), "\(result.output)")
        }
    }

    @Test("a key the zone does not let change TLSA records: one error line naming the grant, exit 2, the deploy hook not run")
    func refused() throws {
        let bind = try Bind()
        let pebble = try Pebble(dnsServerPort: bind.port)
        let dir = try TestSupport.temporaryDirectory("dane-refused")
        let name = "refused.example.test"
        let marker = dir + "/deployed"
        let result = try run(TestSupport.acmeBinary, ["issue", "-d", name, "--http-01-port", String(pebble.httpPort), "--http-01-address", "127.0.0.1",
                                                      "--dane", "--dane-rfc2136", "127.0.0.1:\(bind.port)", "--tsig-key", bind.otherKeyFile,
                                                      "--deploy-hook", "touch \(marker)",
                                                      "--server", pebble.directoryURL, "--ca-bundle", pebble.caBundle, "--config-dir", dir + "/le", "--agree-tos"])
        #expect(result.status == 2, "\(result.output)")
        let errors = result.stderr.split(separator: "\n").filter { $0.hasPrefix("error: ") }
        #expect(errors.count == 1 && errors[0].contains("refused to add the TLSA record _25._tcp.\(name).") && errors[0].contains("grant it in the zone's update-policy, e.g. grant other-key zonesub TXT TLSA;"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: marker), "the deploy hook ran for a key without a published record")
        #expect(try bind.tlsa("_25._tcp.\(name)").isEmpty)
        // The settings are saved: once the grant is fixed, acme renew publishes.
        let conf = try String(contentsOfFile: "\(dir)/le/renewal/\(name).conf", encoding: .utf8)
        #expect(conf.contains("acme_dane = True"), "\(conf)")
    }

    @Test("an ECDSA + RSA pair with DANE: records for both keys and both next keys; the pair rolls over together, each half only to its published key; a partner pulled in by its pair also changes only to its published key")
    func pairRollover() throws {
        let bind = try Bind()
        let pebble = try Pebble(authzReuse: 100, dnsServerPort: bind.port)
        let dir = try TestSupport.temporaryDirectory("dane-pair")
        let name = "mx.example.test", rsaName = "mx.example.test-rsa"
        let issued = try run(TestSupport.acmeBinary, ["issue", "-d", name, "--key-type", "ecdsa,rsa", "--dns-rfc2136", "127.0.0.1:\(bind.port)",
                                                      "--tsig-key", bind.keyFile, "--dane", "--dane-ttl", String(Self.ttl),
                                                      "--server", pebble.directoryURL, "--ca-bundle", pebble.caBundle, "--config-dir", dir + "/le", "--agree-tos"])
        #expect(issued.status == 0, "\(issued.output)\n\(bind.log())")
        func live(_ lineage: String) throws -> String { try Self.record(certificate: "\(dir)/le/live/\(lineage)/cert.pem") }
        func next(_ lineage: String) throws -> String { try Self.record(key: "\(dir)/le/archive/\(lineage)/.acme-next-privkey.pem") }
        /// Both live keys have their record in the zone; returns the zone's records.
        func covered(_ step: String) throws -> Set<String> {
            let records = try bind.tlsa("_25._tcp.\(name)")
            for lineage in [name, rsaName] {
                #expect(records.contains(try live(lineage)), "\(step): the live key of \(lineage) is not covered by \(records)")
            }
            return records
        }
        let (ecdsa1, rsa1, ecdsaNext1, rsaNext1) = (try live(name), try live(rsaName), try next(name), try next(rsaName))
        #expect(try covered("after issue") == [ecdsa1, rsa1, ecdsaNext1, rsaNext1], "after issue: want both keys' and both next keys' records")
        for lineage in [name, rsaName] {
            let conf = try String(contentsOfFile: "\(dir)/le/renewal/\(lineage).conf", encoding: .utf8)
            #expect(conf.contains("acme_dane = True") && conf.contains("acme_key_pair = "), "\(lineage): \(conf)")
        }

        // Forced at once: both held (the next records were only just seen).
        let held = try renew(dir, force: true)
        #expect(held.status == 0, "\(held.output)")
        #expect(held.stdout.contains("\(name): due, waiting for the DANE record") && held.stdout.contains("\(rsaName): due, waiting for the DANE record"), "\(held.output)")
        #expect(try live(name) == ecdsa1 && live(rsaName) == rsa1)
        _ = try covered("held")

        // Two TTLs later both renew, each with its own published next key.
        var clock = Self.twoTTLs
        let renewed = try renew(dir, force: true, at: clock)
        #expect(renewed.status == 0 && renewed.stdout.contains("\(name): renewed") && renewed.stdout.contains("\(rsaName): renewed"), "\(renewed.output)")
        #expect(try live(name) == ecdsaNext1 && live(rsaName) == rsaNext1, "a half of the pair did not use its published key")
        _ = try covered("renewed")

        // Two TTLs after the renewal the old records go. Then only the RSA half is due by its conf
        // (renew_before_expiry): the ECDSA half is pulled in by its pair and asks its own rollover;
        // over the next runs each half renews only with a key whose record is published.
        clock += Self.twoTTLs
        let cleaned = try renew(dir, at: clock)
        #expect(cleaned.status == 0, "\(cleaned.output)")
        let afterCleaning = try covered("old records removed")
        #expect(!afterCleaning.contains(ecdsa1) && !afterCleaning.contains(rsa1), "the old keys' records stayed: \(afterCleaning)")
        let rsaConf = "\(dir)/le/renewal/\(rsaName).conf"
        let conf = try String(contentsOfFile: rsaConf, encoding: .utf8)
        try (conf.replacingOccurrences(of: "[renewalparams]", with: "renew_before_expiry = 3650 days\n[renewalparams]"))
            .write(toFile: rsaConf, atomically: true, encoding: .utf8)
        var pulledIn = false
        var outputs: [String] = []
        for round in 0..<4 {
            let result = try renew(dir, at: clock)
            outputs.append("round \(round) at +\(clock) s:\n\(result.output)")
            pulledIn = pulledIn || result.stdout.contains("\(name): renewed (together with its pair \(rsaName))")
            #expect(result.status == 0, "round \(round): \(result.output)")
            let records = try covered("round \(round)")
            for lineage in [name, rsaName] where result.stdout.contains("\(lineage): renewed") {
                #expect(records.contains(try live(lineage)), "round \(round): \(lineage) renewed with a key whose record is not published")
            }
            clock += Self.ttl
        }
        #expect(try live(rsaName) != rsaNext1, "the due RSA half was never renewed: \(outputs.joined(separator: "\n"))")
        #expect(pulledIn, "the ECDSA half was not renewed together with its due RSA pair: \(outputs.joined(separator: "\n"))")
    }

    @Test("nothing to roll over: with --reuse-key the key keeps its one record and renewals are not held; with --dane-usage 2 the issuing CA's record is published (with a warning) and renewals with new keys are not held")
    func reuseKeyAndUsage2() throws {
        let bind = try Bind()
        let pebble = try Pebble(dnsServerPort: bind.port)
        let dir = try TestSupport.temporaryDirectory("dane-reuse")
        let reuse = "reuse.example.test", ta = "ta.example.test"

        let issuedReuse = try issue(pebble, bind, dir, name: reuse, dane: ["--reuse-key"])
        #expect(issuedReuse.status == 0, "\(issuedReuse.output)\n\(bind.log())")
        let reuseFirst = try expectLiveCovered(bind, dir, name: reuse, step: "reuse: after issue")
        #expect(reuseFirst.records == [reuseFirst.live], "a reused key needs only its own record: \(reuseFirst.records)")
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/le/archive/\(reuse)/.acme-next-privkey.pem"), "a next key was made for a lineage that reuses its key")

        let issuedTA = try issue(pebble, bind, dir, name: ta, dane: ["--dane-usage", "2"])
        #expect(issuedTA.status == 0, "\(issuedTA.output)")
        #expect(issuedTA.stderr.contains("DANE-TA (2 1 1)") && issuedTA.stderr.contains("intermediate"), "no warning for 2 1 1: \(issuedTA.output)")
        func issuerRecord() throws -> String {
            let chain = "\(dir)/le/live/\(ta)/chain.pem"
            return try Self.spkiRecord("openssl x509 -in '\(chain)' -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum")
                .replacingOccurrences(of: "3 1 1 ", with: "2 1 1 ")
        }
        let taKey1 = try Self.record(certificate: "\(dir)/le/live/\(ta)/cert.pem")
        #expect(try bind.tlsa("_25._tcp.\(ta)") == [try issuerRecord()], "want only the issuing CA's 2 1 1 record")

        // Forced at once: neither is held; the reused key stays, the 2 1 1 lineage gets a new key.
        let renewed = try renew(dir, force: true)
        #expect(renewed.status == 0 && renewed.stdout.contains("\(reuse): renewed") && renewed.stdout.contains("\(ta): renewed"), "\(renewed.output)")
        #expect(!renewed.stdout.contains("waiting for the DANE record"), "\(renewed.output)")
        let reuseAfter = try expectLiveCovered(bind, dir, name: reuse, step: "reuse: renewed")
        #expect(reuseAfter.live == reuseFirst.live && reuseAfter.records == reuseFirst.records)
        #expect(try Self.record(certificate: "\(dir)/le/live/\(ta)/cert.pem") != taKey1, "the 2 1 1 lineage kept its key")
        #expect(try bind.tlsa("_25._tcp.\(ta)") == [try issuerRecord()], "the issuing CA's record no longer covers the chain")
    }

    @Test("bad DANE flags: one error line, exit 64, nothing issued")
    func badFlags() throws {
        let dir = try TestSupport.temporaryDirectory("dane-flags")
        let cases: [([String], String)] = [
            (["--dane"], "--dane needs a way to publish TLSA records"),
            (["--dane", "--dane-usage", "1", "--dane-hook", "true"], "the TLSA usage (--dane-usage) 1"),
            (["--dane", "--dane-ttl", "0", "--dane-hook", "true"], "the TLSA TTL (--dane-ttl) 0"),
            (["--dane", "--dane-rfc2136", "127.0.0.1:53"], "--dane-rfc2136 needs --tsig-key"),
            (["--dane-port", "465"], "go with --dane"),
        ]
        for (flags, message) in cases {
            let result = try run(TestSupport.acmeBinary, ["issue", "-d", "mx.example.test", "--config-dir", dir + "/le", "--server", "https://127.0.0.1:1/dir"] + flags)
            #expect(result.status == 64, "\(flags): \(result.output)")
            #expect(result.stderr.contains(message), "\(flags): \(result.output)")
            #expect(!FileManager.default.fileExists(atPath: dir + "/le/live/mx.example.test"))
        }
    }
}
