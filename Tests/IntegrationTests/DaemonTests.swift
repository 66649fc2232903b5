import ACMECrypto
import Foundation
import TestFixtures
import Testing

/// `acme daemon` against the ACME double (ARI, short lifetimes, outages on demand) and real
/// Postfix and Dovecot; `acme status` on what it writes.
@Suite("acme daemon", .serialized, .integration)
struct DaemonTests {
    let name = "mail.example.test"

    func caArguments(_ double: ACMEDouble, _ configDir: String) -> [String] {
        ["--server", double.directoryURL, "--ca-bundle", double.caBundle, "--config-dir", configDir, "--agree-tos",
         "--http-01-port", String(TestSupport.freePort())]
    }

    /// The daemon arguments that install into `postfix` and `dovecot` and verify all their endpoints.
    func mailArguments(_ dir: String, _ double: ACMEDouble, _ postfix: PostfixServer, _ dovecot: DovecotServer) -> [String] {
        ["--ssl-type", "letsencrypt", "--hostname", name, "--tls-dir", dir + "/tls", "--postfix-dir", postfix.configDir,
         "--dovecot-dir", dovecot.configDir, "--dms-config", dir + "/dms", "--verify-ca-file", double.rootFile, "--verify-timeout", "20",
         "--endpoint", "smtp://127.0.0.1:\(postfix.smtpPort)", "--endpoint", "smtps://127.0.0.1:\(postfix.submissionsPort)",
         "--endpoint", "imap://127.0.0.1:\(dovecot.imapPort)", "--endpoint", "imaps://127.0.0.1:\(dovecot.imapsPort)",
         "--endpoint", "pop3://127.0.0.1:\(dovecot.pop3Port)", "--endpoint", "pop3s://127.0.0.1:\(dovecot.pop3sPort)"]
    }

    /// What a container does before its mail daemons start: provision, issuing the first certificate.
    func provisionBeforeStart(_ dir: String, _ le: String, _ double: ACMEDouble, _ postfix: PostfixServer, _ dovecot: DovecotServer) throws {
        let provision = try run(TestSupport.acmeBinary, ["provision", "--issue-if-missing", "--ssl-type", "letsencrypt", "--hostname", name,
                                                         "--tls-dir", dir + "/tls", "--postfix-dir", postfix.configDir, "--dovecot-dir",
                                                         dovecot.configDir, "--dms-config", dir + "/dms"] + caArguments(double, le))
        #expect(provision.status == 0, "\(provision.output)")
    }

    func status(_ configDir: String, _ extra: [String] = []) throws -> RunResult {
        try run(TestSupport.acmeBinary, ["status", "--config-dir", configDir] + extra)
    }

    @Test("soak: 1-minute certificates for 3 minutes with real Postfix and Dovecot; every endpoint always serves an unexpired certificate, the latest within 20 s of its install")
    func soak() throws {
        let double = try ACMEDouble()
        // A renewal about every half lifetime (ARI) and a calm quarter after it: five or six in the
        // run, the same number of steps per lifetime as the former 8-minute run with 2-minute ones.
        try double.setControl(["lifetime_seconds": 60, "ari_fractions": [0.45, 0.55], "retry_after": 20])
        let dir = try TestSupport.temporaryDirectory("daemon-soak")
        let le = dir + "/le"
        let postfix = try PostfixServer(dir)
        let dovecot = try DovecotServer(dir)
        defer { postfix.stop(); dovecot.stop() }
        // The daemons start with TLS settings: provision (issuing the first certificate) before they run.
        try provisionBeforeStart(dir, le, double, postfix, dovecot)
        try postfix.start()
        try dovecot.start()
        let daemon = try DaemonProcess(mailArguments(dir, double, postfix, dovecot) + caArguments(double, le), log: dir + "/daemon.log")
        try waitUntil("the daemon writes its first status", timeout: 30) { FileManager.default.fileExists(atPath: le + "/.acme-daemon-status.json") }
        let rssStart = daemon.rssKiB ?? 0
        let cpuStart = daemon.cpuSeconds ?? 0

        let endpoints: [(String, Int, String?)] = [
            ("smtp", postfix.smtpPort, "smtp"), ("smtps", postfix.submissionsPort, nil), ("imap", dovecot.imapPort, "imap"),
            ("imaps", dovecot.imapsPort, nil), ("pop3", dovecot.pop3Port, "pop3"), ("pop3s", dovecot.pop3sPort, nil),
        ]
        var installed: [(serial: String, at: Date)] = []
        var violations: [String] = []
        var stalls: [String] = [], stalledBefore: Set<String> = []
        let start = Date()
        var rounds = 0
        while Date().timeIntervalSince(start) < 3 * 60 + 5 {
            let round = Date()
            rounds += 1
            // The installed set, read again whenever an endpoint serves something else: an install
            // may land while a round's probes run (a round takes seconds on a loaded machine).
            func noteInstall() {
                if let text = try? String(contentsOfFile: dir + "/tls/current/fullchain.pem", encoding: .utf8),
                   let leaf = try? Certificate.chain(pem: text).first, leaf.serialHex != installed.last?.serial {
                    installed.append((leaf.serialHex, Date()))
                }
            }
            noteInstall()
            for (label, port, starttls) in endpoints {
                let probe: TLSProbe
                do {
                    probe = try TLSProbe.connect(port: port, starttls: starttls, caFile: double.rootFile)
                    stalledBefore.remove(label)
                } catch {
                    // A connection accepted in the instant Dovecot reloads can hang unanswered (seen on a
                    // loaded machine: one IMAP probe at a SIGHUP). Noted; the endpoint must answer the next one.
                    if !stalledBefore.insert(label).inserted { violations.append("\(Date()): \(label) did not answer twice in a row: \(error)") }
                    stalls.append("\(Date()): \(label): \(error)")
                    continue
                }
                let probed = Date()
                guard let leaf = probe.leaf else { violations.append("\(probed): \(label) served no certificate"); continue }
                if leaf.notAfter <= probed { violations.append("\(probed): \(label) served an expired certificate (serial \(leaf.serialHex))") }
                if leaf.serialHex != installed.last?.serial { noteInstall() }
                if let latest = installed.last, leaf.serialHex != latest.serial, probed.timeIntervalSince(latest.at) > 20 {
                    violations.append("\(probed): \(label) serves \(leaf.serialHex), \(Int(probed.timeIntervalSince(latest.at))) s after \(latest.serial) was installed")
                }
            }
            let spent = Date().timeIntervalSince(round)
            if spent < 1 { usleep(useconds_t((1 - spent) * 1_000_000)) }
        }
        let rssEnd = daemon.rssKiB ?? 0
        let cpu = (daemon.cpuSeconds ?? 0) - cpuStart
        if !stalls.isEmpty { print("soak: probes that got no answer (retried next round): \(stalls)") }
        print("soak: \(rounds) rounds, \(installed.count - 1) renewals installed; daemon RSS \(rssStart) KiB at start, \(rssEnd) KiB at the end; CPU \(String(format: "%.2f", cpu)) s in \(Int(Date().timeIntervalSince(start))) s")
        #expect(violations.isEmpty, "\(violations.prefix(10).joined(separator: "\n"))\n\(daemon.log.suffix(3000))")
        #expect(installed.count >= 4, "at least three renewals installed: \(installed)\n\(daemon.log.suffix(3000))")
        #expect(daemon.lines(containing: "verified").count >= 3, "\(daemon.log.suffix(3000))")
        #expect(daemon.lines(containing: "rolled-back").isEmpty, "\(daemon.log.suffix(3000))")
        #expect(rssEnd <= rssStart + 3 * 1024, "RSS grew from \(rssStart) KiB to \(rssEnd) KiB")
        let healthy = try status(le)
        #expect(healthy.status == 0 && healthy.stdout.contains("healthy"), "\(healthy.output)")
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit(timeout: 20) != nil, "SIGTERM must stop the daemon")
    }

    @Test("ARI: Retry-After is honoured between checks; a window moved into the past renews with replaces at the next wake-up")
    func ariWindow() throws {
        let double = try ACMEDouble()
        let dir = try TestSupport.temporaryDirectory("daemon-ari")
        let le = dir + "/le"
        try issueFromDouble(double, configDir: le)
        let old = try liveLeaf(le)
        try double.setControl(["start_days": 10, "end_days": 11, "retry_after": 60])
        let daemon = try DaemonProcess(["--no-provision"] + caArguments(double, le), log: dir + "/daemon.log")
        try waitUntil("the daemon asks ARI once", timeout: 20) { try double.requests(to: "/ari/").count == 1 }
        // The window moves into the past; the CA said to ask again in 60 s, and the daemon does not ask before.
        try double.setWindow(startDays: -2, endDays: -1)
        let asked = Date()
        try waitUntil("the daemon renews at its next ARI check", timeout: 90) { daemon.lines(containing: "renewed").count == 1 }
        let waited = Date().timeIntervalSince(asked)
        let ari = try double.requests(to: "/ari/")
        #expect(ari.count == 2, "one ARI request per Retry-After: \(ari)")
        #expect(waited > 45, "renewed \(Int(waited)) s after the window moved: Retry-After (60 s) not honoured")
        let order = try double.requests(to: "/order").last?["payload"] as? [String: Any]
        #expect(order?["replaces"] as? String == old.renewalInfoID, "replaces: \(String(describing: order))")
        #expect(try RenewTests.consistent(le, name))
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit(timeout: 20) != nil)
    }

    @Test("CA unreachable: backoff, one alert after --alert-after failures, the all-clear after the CA is back")
    func outage() throws {
        let double = try ACMEDouble()
        let dir = try TestSupport.temporaryDirectory("daemon-outage")
        let le = dir + "/le"
        try issueFromDouble(double, configDir: le)
        // Due now by the conf's own rule, even with the CA (and its ARI) out of reach.
        try appendToRenewalConf(le, name, topLevel: "renew_before_expiry = 91 days")
        try double.setControl(["offline": true])
        let alerts = dir + "/alerts.txt"
        let daemon = try DaemonProcess(["--no-provision", "--retry-delay", "3", "--alert-after", "2", "--alert-command", alertRecorder(alerts)]
                                       + caArguments(double, le), log: dir + "/daemon.log")
        try waitUntil("four failed attempts", timeout: 60) { daemon.lines(containing: "renewal-failed").count >= 4 }
        let failures = daemon.lines(containing: "renewal-failed")
        #expect(alertLines(alerts).filter { $0.hasPrefix("open renewal-failing \(name)") }.count == 1, "one alert per incident: \(alertLines(alerts))")
        // Backoff: the gaps between attempts grow.
        let format = DateFormatter()
        format.dateFormat = "yyyy-MM-dd HH:mm:ss"
        format.timeZone = TimeZone(identifier: "UTC")
        let times = failures.compactMap { format.date(from: String($0.prefix(19))) }
        // The log has whole seconds: compare gaps two doublings apart (about 12 s against 3 s), which
        // rounding and ±20 % jitter cannot blur.
        #expect(times.count >= 4 && times[3].timeIntervalSince(times[2]) > times[1].timeIntervalSince(times[0]) * 2,
                "attempts at \(times)")
        #expect(try status(le).status == 1, "renewal failing: acme status must say unhealthy")
        // Back, with the certificate inside its renewal window.
        try double.setControl(["start_days": -2, "end_days": -1])
        try waitUntil("the renewal succeeds after the CA is back", timeout: 60) { daemon.lines(containing: "renewed").count == 1 }
        try waitUntil("the all-clear", timeout: 10) { alertLines(alerts).contains { $0.hasPrefix("resolved renewal-failing \(name)") } }
        #expect(alertLines(alerts).count == 2, "\(alertLines(alerts))")
        #expect(try RenewTests.consistent(le, name))
        try waitUntil("acme status healthy again", timeout: 10) { try status(le).status == 0 }
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit(timeout: 20) != nil)
    }

    @Test("a reload that leaves Dovecot serving the old certificate: rollback, the old one verified, one alert; a profile change forces the renewal")
    func rollback() throws {
        let double = try ACMEDouble()
        let dir = try TestSupport.temporaryDirectory("daemon-rollback")
        let le = dir + "/le"
        let postfix = try PostfixServer(dir)
        let dovecot = try DovecotServer(dir)
        defer { postfix.stop(); dovecot.stop() }
        let alerts = dir + "/alerts.txt"
        try provisionBeforeStart(dir, le, double, postfix, dovecot)
        try postfix.start()
        try dovecot.start()
        let first = try liveLeaf(le)
        let firstSet = try FileManager.default.destinationOfSymbolicLink(atPath: dir + "/tls/current")
        // Dovecot is pinned to copies of today's files, after the include of the managed settings.
        try FileManager.default.createDirectory(atPath: dir + "/pinned", withIntermediateDirectories: true)
        for file in ["fullchain.pem", "key.pem"] {
            try FileManager.default.copyItem(atPath: dir + "/tls/current/" + file, toPath: dir + "/pinned/" + file)
        }
        let conf = dovecot.configDir + "/dovecot.conf"
        try (try String(contentsOfFile: conf, encoding: .utf8) + "ssl_cert = <\(dir)/pinned/fullchain.pem\nssl_key = <\(dir)/pinned/key.pem\n")
            .write(toFile: conf, atomically: true, encoding: .utf8)

        let daemon = try DaemonProcess(mailArguments(dir, double, postfix, dovecot) + caArguments(double, le)
                                       + ["--alert-command", alertRecorder(alerts)], log: dir + "/daemon.log")
        try waitUntil("the daemon writes its first status", timeout: 30) { FileManager.default.fileExists(atPath: le + "/.acme-daemon-status.json") }
        #expect(try status(le).status == 0)
        // Asking for another profile makes the certificate due at once (SIGHUP: look now).
        let confPath = le + "/renewal/\(name).conf"
        try (try String(contentsOfFile: confPath, encoding: .utf8)).replacingOccurrences(of: "[renewalparams]", with: "[renewalparams]\npreferred_profile = shortlived")
            .write(toFile: confPath, atomically: true, encoding: .utf8)
        daemon.signal(SIGHUP)
        try waitUntil("the renewal forced by the profile change", timeout: 30) { daemon.lines(containing: "renewed").count == 1 }
        #expect(daemon.log.contains("profile changed from default to shortlived"), "\(daemon.log)")
        try waitUntil("the rollback", timeout: 60) { daemon.lines(containing: "rolled-back").count == 1 }
        #expect(try liveLeaf(le).serialHex != first.serialHex, "the lineage keeps its renewal")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: dir + "/tls/current") == firstSet, "the previous set is live again")
        let notServed = daemon.lines(containing: "not-served").joined()
        #expect(notServed.contains("imaps://127.0.0.1:\(dovecot.imapsPort): serves another certificate"), "\(daemon.log)")
        #expect(!notServed.contains("smtp://127.0.0.1:\(postfix.smtpPort):"), "Postfix did serve the new certificate: \(notServed)")
        #expect(daemon.log.contains("the previous certificate is live again and served"), "\(daemon.log)")
        try waitUntil("Postfix serves the old certificate again") {
            try TLSProbe.connect(port: postfix.smtpPort, starttls: "smtp", caFile: double.rootFile).leaf?.serialHex == first.serialHex
        }
        try waitUntil("the alert", timeout: 10) { !alertLines(alerts).isEmpty }
        #expect(alertLines(alerts).count == 1 && alertLines(alerts)[0].hasPrefix("open rolled-back"), "\(alertLines(alerts))")
        let unhealthy = try status(le, ["--json"])
        #expect(unhealthy.status == 1, "\(unhealthy.output)")
        #expect(unhealthy.stdout.contains("\"healthy\" : false") && unhealthy.stdout.contains("rolled-back"), "\(unhealthy.stdout)")
        // The next looks at the sources do not install the held-back certificate again.
        sleep(3)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: dir + "/tls/current") == firstSet)
        #expect(daemon.lines(containing: "rolled-back").count == 1)
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit(timeout: 20) != nil)

        // acme provision --verify, as cron would run it: installs the renewed set, finds Dovecot
        // not serving it, puts the previous one back and exits 1.
        let verify = try run(TestSupport.acmeBinary, ["provision", "--verify"] + mailArguments(dir, double, postfix, dovecot)
                             + ["--config-dir", le])
        #expect(verify.status == 1, "\(verify.output)")
        #expect(verify.stderr.contains("error: not served: ") && verify.stderr.contains("the previous certificate was put back and is served"),
                "\(verify.output)")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: dir + "/tls/current") == firstSet)
    }

    @Test("kill -9 during a renewal loses nothing and the restarted daemon completes it; SIGTERM mid-order exits within a second and frees the challenge port")
    func signals() throws {
        let double = try ACMEDouble()
        let dir = try TestSupport.temporaryDirectory("daemon-signals")
        let le = dir + "/le"
        try issueFromDouble(double, configDir: le)
        // The CA's renewal window is in the past: due now.
        try double.setControl(["finalize_delay": 3, "start_days": -2, "end_days": -1])
        let finalized = try double.requests(to: "/finalize").count
        let daemon = try DaemonProcess(["--no-provision"] + caArguments(double, le), log: dir + "/daemon.log")
        try waitUntil("the renewal reaches finalize", timeout: 30) { try double.requests(to: "/finalize").count > finalized }
        daemon.signal(SIGKILL)
        #expect(daemon.waitForExit(timeout: 20) != nil)
        #expect(try RenewTests.consistent(le, name), "after kill -9 the key matches the certificate")
        #expect(try liveLeaf(le).serialHex.count > 0)

        try double.setControl(["start_days": -2, "end_days": -1])
        let restarted = try DaemonProcess(["--no-provision"] + caArguments(double, le), log: dir + "/daemon2.log")
        try waitUntil("the restarted daemon renews", timeout: 30) { restarted.lines(containing: "renewed").count == 1 }
        #expect(try RenewTests.consistent(le, name))
        #expect(FileManager.default.fileExists(atPath: le + "/archive/\(name)/cert2.pem"), "\(restarted.log)")
        restarted.signal(SIGTERM)
        #expect(restarted.waitForExit(timeout: 20) != nil)

        // A CA that never validates: the daemon sits in the order with its HTTP-01 responder up.
        try double.setControl(["pending_authz": true, "start_days": -2, "end_days": -1])
        try FileManager.default.removeItem(atPath: le + "/.acme-daemon-status.json")
        // The lineage renews on the HTTP-01 port saved in its conf at issuance.
        let conf = try String(contentsOfFile: le + "/renewal/\(name).conf", encoding: .utf8)
        let port = try #require(conf.split(separator: "\n").first { $0.hasPrefix("http01_port") }
            .flatMap { Int($0.split(separator: "=").last!.trimmingCharacters(in: .whitespaces)) }, "\(conf)")
        let stopping = try DaemonProcess(["--no-provision", "--verbose"] + caArguments(double, le), log: dir + "/daemon4.log")
        try waitUntil("the responder listens on the challenge port", timeout: 30) { TestSupport.acceptsConnections(port) }
        let sent = Date()
        stopping.signal(SIGTERM)
        let exited = stopping.waitForExit(timeout: 3)
        let took = Date().timeIntervalSince(sent)
        #expect(exited != nil && took < 1.0, "SIGTERM took \(took) s: \(stopping.log.suffix(1500))")
        #expect(!TestSupport.acceptsConnections(port), "something still listens on the challenge port")
    }

    @Test("a certificate renewed by someone else is installed at the next look (--interval); --log-format json gives one object per line")
    func renewedElsewhere() throws {
        let double = try ACMEDouble()
        let dir = try TestSupport.temporaryDirectory("daemon-elsewhere")
        let le = dir + "/le"
        try issueFromDouble(double, configDir: le)
        let daemon = try DaemonProcess(["--ssl-type", "letsencrypt", "--hostname", name, "--tls-dir", dir + "/tls", "--postfix-dir", dir + "/postfix",
                                        "--dovecot-dir", dir + "/dovecot", "--dms-config", dir + "/dms", "--no-verify", "--interval", "1",
                                        "--log-format", "json"] + caArguments(double, le), log: dir + "/daemon.log")
        let installed = { (try? Certificate.chain(pem: String(contentsOfFile: dir + "/tls/current/fullchain.pem", encoding: .utf8)).first?.serialHex) ?? nil }
        try waitUntil("the first install", timeout: 20) { installed() == (try? liveLeaf(le).serialHex) }
        let renewed = try run(TestSupport.acmeBinary, ["renew", "--force-renewal", "--no-random-sleep", "--config-dir", le, "--ca-bundle", double.caBundle])
        #expect(renewed.status == 0, "\(renewed.output)")
        let newSerial = try liveLeaf(le).serialHex
        try waitUntil("the daemon installs what acme renew obtained", timeout: 10) { installed() == newSerial }
        // Names added in the conf (twice), each followed by SIGHUP: each renews at once, with the new names.
        for extra in ["smtp.example.test", "imap.example.test"] {
            let confPath = le + "/renewal/\(name).conf"
            let conf = try String(contentsOfFile: confPath, encoding: .utf8)
            let lines = conf.split(separator: "\n", omittingEmptySubsequences: false)
                .map { $0.hasPrefix("acme_domains") ? "acme_domains = \(name), \(extra)," : String($0) }
            try lines.joined(separator: "\n").write(toFile: confPath, atomically: true, encoding: .utf8)
            let before = daemon.lines(containing: "\"renewed\"").count
            daemon.signal(SIGHUP)
            try waitUntil("the renewal for the added name \(extra)", timeout: 20) { daemon.lines(containing: "\"renewed\"").count == before + 1 }
            #expect(try liveLeaf(le).dnsNames.sorted() == [extra, name].sorted())
        }
        #expect(daemon.log.contains("the requested names changed"), "\(daemon.log)")
        for line in daemon.log.split(separator: "\n") {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect(object?["event"] is String && object?["time"] is String && object?["message"] is String, "\(line)")
        }
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit(timeout: 20) != nil)
    }

    @Test("acme status: 2 without a status file, 1 for a stale one, 0 for a healthy one")
    func statusCodes() throws {
        let dir = try TestSupport.temporaryDirectory("daemon-status")
        let missing = try status(dir)
        #expect(missing.status == 2 && missing.stderr.contains("no daemon status at"), "\(missing.output)")
        let old = ISO8601DateFormatter().string(from: Date().addingTimeInterval(-7200))
        let now = ISO8601DateFormatter().string(from: Date())
        func write(_ updated: String) throws {
            try """
            {"version": 1, "pid": 1, "started": "\(old)", "updated": "\(updated)", "heartbeatSeconds": 900,
             "lineages": [{"name": "m", "names": ["m"], "nextAction": "renew", "failures": 0}], "incidents": {"open": {}}, "retries": {}}
            """.write(toFile: dir + "/.acme-daemon-status.json", atomically: true, encoding: .utf8)
        }
        try write(old)
        let stale = try status(dir)
        #expect(stale.status == 1 && stale.output.contains("has not updated its status since"), "\(stale.output)")
        try write(now)
        let healthy = try status(dir)
        #expect(healthy.status == 0 && healthy.stdout.contains("healthy"), "\(healthy.output)")
        try "{not json".write(toFile: dir + "/.acme-daemon-status.json", atomically: true, encoding: .utf8)
        let broken = try status(dir)
        #expect(broken.status == 2 && broken.stderr.contains("is not a status file"), "\(broken.output)")
    }
}
