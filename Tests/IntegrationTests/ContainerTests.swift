import Foundation
import Testing

/// The acme mail image (`Sample-configs/container`) as users run it, on Debian's podman
/// (`.ci/container-setup` prepares it; every test fails loudly when podman cannot run), against
/// a Pebble in the test's private network namespace.
@Suite("container image on podman", .serialized, .integration)
struct ContainerTests {
    let name = "mail.example.test"
    /// The seven mail endpoints the image serves, as `acme check` names them.
    static let endpoints = ["smtp", "submission", "imap", "pop3", "smtps", "imaps", "pop3s"].map { "\($0)://127.0.0.1" }

    @Test("the image's runtime stage has every shared library acme loads: ldd finds each one")
    func everyLibraryPresent() throws {
        let engine = try PodmanNamespace()
        defer { engine.stop() }
        let ldd = try engine.run(["podman", "run", "--rm", "--network", "host", "--no-healthcheck",
                                  "--entrypoint", "ldd", engine.image, "/usr/local/bin/acme"])
        #expect(ldd.status == 0, "ldd failed in the image: \(ldd.output)")
        #expect(!ldd.output.contains("not found"), "libraries acme loads are missing from the runtime stage: \(ldd.output)")
        #expect(ldd.output.contains("libpq.so.5"), "the binary under test does not link libpq (fleet mode): \(ldd.output)")
    }

    @Test("all-in-one image: certificate issued at start and served on all 7 ports, healthy, a renewal served after SIGHUP without a restart, a clean stop, a restart and a new container on the same volumes that order nothing")
    func allInOne() throws {
        let engine = try PodmanNamespace()
        defer { engine.stop() }
        let root = try engine.pebbleRootFile()
        // docker-compose.yml's mail service, as `docker compose up` runs it, pointed at Pebble.
        let mail = try ComposeService(file: "docker-compose.yml", service: "mail", engine: engine)
        #expect(mail.ports == [25, 80, 110, 143, 465, 587, 993, 995], "the compose file publishes other ports than the image serves")
        let letsencrypt = engine.workDir + "/compose/docker-data/letsencrypt"
        let container = "acme-mail-\(UUID().uuidString.prefix(8).lowercased())"
        let runMail = { (name: String) in
            _ = try engine.podman(["run", "--detach", "--name", name, "--network", "host"] + mail.options + pointedAtPebble(engine)
                              + [engine.image] + mail.command)
        }
        try runMail(container)
        let started = Date()
        try waitHealthy(engine, container)
        let first = try waitServed(engine, root, "the certificate issued at start") { _ in true }
        print("container: healthy and serving \(Int(Date().timeIntervalSince(started))) s after start")

        let before = try startedAt(engine, container)
        let renew = try engine.podman(["exec", container, "acme", "renew", "--force-renewal", "--no-random-sleep"])
        #expect(renew.output.contains("renewed"), "\(renew.output)")
        try engine.podman(["kill", "--signal", "HUP", container])
        let renewed = try waitServed(engine, root, "the renewal after SIGHUP") { $0 != first }
        #expect(try startedAt(engine, container) == before, "the container restarted to serve the renewal")

        try stopCleanly(engine, container)
        let issued = engine.issuedCount()
        let versions = archiveVersions(letsencrypt)
        // The same container started again, then a new one on the same volumes (compose down + up).
        try engine.podman(["start", container])
        try expectServedAsBefore(engine, root, container, renewed, "a restart")
        try stopCleanly(engine, container)
        try engine.podman(["rm", container])
        try runMail(container + "-new")
        try expectServedAsBefore(engine, root, container + "-new", renewed, "a new container on the same volumes")
        #expect(engine.issuedCount() == issued, "a restart with the same volume ordered a certificate")
        #expect(archiveVersions(letsencrypt) == versions, "a restart with the same volume wrote a new lineage version")
    }

    func expectServedAsBefore(_ engine: PodmanNamespace, _ root: String, _ container: String, _ before: String, _ what: String) throws {
        try waitHealthy(engine, container)
        let served = try waitServed(engine, root, "the certificate after \(what)") { _ in true }
        #expect(served == before, "after \(what) the image serves another certificate than the one it had")
    }

    @Test("sidecar layout: acme --no-provision renews into the shared /etc/letsencrypt, a Postfix + Dovecot container reading it as docker-mailserver does serves the renewal after its reload")
    func sidecar() throws {
        let engine = try PodmanNamespace()
        defer { engine.stop() }
        let root = try engine.pebbleRootFile()
        let standIn = engine.workDir + "/dms-stand-in.sh"
        try Self.dmsStandIn.write(toFile: standIn, atomically: true, encoding: .utf8)
        // docker-compose.dms-sidecar.yml: its acme service as compose runs it, pointed at Pebble;
        // its mailserver service's settings and volumes, with the stand-in for docker-mailserver.
        let acme = try ComposeService(file: "docker-compose.dms-sidecar.yml", service: "acme", engine: engine)
        let mailserver = try ComposeService(file: "docker-compose.dms-sidecar.yml", service: "mailserver", engine: engine)
        #expect(acme.ports == [80] && acme.command.first == "--no-provision", "\(acme)")
        #expect(mailserver.dependsOn == ["acme": "service_healthy"], "\(mailserver)")
        try engine.podman(["run", "--detach", "--name", "acme", "--network", "host"] + acme.options + pointedAtPebble(engine)
                          + [engine.image] + acme.command)
        try waitHealthy(engine, "acme")    // depends_on: condition: service_healthy
        try engine.podman(["run", "--detach", "--name", "mailserver", "--network", "host"] + mailserver.options
                          + ["--env", "OVERRIDE_HOSTNAME=" + name, "--volume", standIn + ":/stand-in.sh:ro", "--no-healthcheck",
                             "--entrypoint", "bash", engine.image, "/stand-in.sh"])
        let first = try waitServed(engine, root, "the sidecar's first certificate from the mail container") { _ in true }
        let renew = try engine.podman(["exec", "acme", "acme", "renew", "--force-renewal", "--no-random-sleep"])
        #expect(renew.output.contains("renewed"), "\(renew.output)")
        _ = try waitServed(engine, root, "the sidecar's renewal from the mail container") { $0 != first }
        let acmeLog = try engine.podman(["logs", "acme"]).output
        #expect(!acmeLog.contains("changed: postfix"), "the sidecar installed into a mail server: \(acmeLog.suffix(800))")
    }

    @Test("Debian package: apt installs it with its dependencies into a clean Debian 12 container; acme --version, man acme-issue, systemd-analyze verify on its units, acme issue against Pebble")
    func debianPackage() throws {
        let dist = PodmanNamespace.repositoryRoot + "/dist"
        let debs = ((try? FileManager.default.contentsOfDirectory(atPath: dist)) ?? []).filter {
            $0.hasPrefix("acme-mail_") && $0.hasSuffix("_amd64.deb")
        }
        guard let deb = debs.sorted().last else {
            throw TestFailure("no \(dist)/acme-mail_*_amd64.deb: run bash .ci/package (the README's test command does)")
        }
        let version = deb.split(separator: "_")[1]
        let image = "localhost/acme-package:test"
        let install = try PodmanNamespace.onHostNetwork("""
            podman rm --force pkg-install >/dev/null 2>&1 || true
            podman run --name pkg-install --no-healthcheck --network host --volume \(dist):/dist:ro docker.io/library/debian:12-slim \
                bash -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends /dist/\(deb) man-db systemd'
            podman commit -q pkg-install \(image) >/dev/null
            podman rm pkg-install >/dev/null
            """)
        try #require(install.status == 0, "apt-get install ./\(deb) failed in a clean Debian 12 container: \(install.output.suffix(2000))")

        let engine = try PodmanNamespace()
        defer { engine.stop() }
        func inside(_ script: String) throws -> RunResult {
            try engine.run(["podman", "run", "--rm", "--no-healthcheck", "--network", "host",
                            "--volume", engine.workDir + "/pebble:/pebble:ro", image, "bash", "-c", script])
        }
        let installed = try inside("acme --version")
        #expect(installed.status == 0 && installed.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == String(version),
                "\(installed.output)")
        let man = try inside("MANWIDTH=100 man acme-issue 2>&1")
        #expect(man.status == 0 && man.stdout.contains("acme issue") && man.stdout.contains("--domain"), "\(man.output.prefix(1500))")
        #expect(!man.stdout.contains("warning"), "man acme-issue: \(man.output.prefix(1500))")
        let units = ["acme-daemon.service", "acme-renew.service", "acme-renew.timer"].map { "/lib/systemd/system/" + $0 }
        let verify = try inside("systemd-analyze verify " + units.joined(separator: " ") + " 2>&1")
        #expect(verify.status == 0 && verify.stdout.isEmpty, "systemd-analyze verify: \(verify.output)")
        let issue = try inside("acme issue -d \(name) --server \(engine.pebbleDirectoryURL) --ca-bundle /pebble/pebble.pem "
                               + "--email postmaster@example.test --agree-tos --http-01-port 80 && test -s /etc/letsencrypt/live/\(name)/fullchain.pem")
        #expect(issue.status == 0, "acme issue from the package against Pebble: \(issue.output)")
    }

    /// docker-mailserver with SSL_TYPE=letsencrypt, as far as TLS goes: Postfix and Dovecot read
    /// live/<name>/ from the shared volume (read-only), and a checksum of its *.pem files, compared
    /// every second (docker-mailserver: every 2 s), reloads both when it changes.
    static let dmsStandIn = #"""
        set -euo pipefail
        live=/etc/letsencrypt/live/$OVERRIDE_HOSTNAME
        postconf -e "myhostname=$OVERRIDE_HOSTNAME" smtpd_tls_security_level=may \
            "smtpd_tls_cert_file=$live/fullchain.pem" "smtpd_tls_key_file=$live/privkey.pem"
        printf 'ssl_cert = <%s/fullchain.pem\nssl_key = <%s/privkey.pem\n' "$live" "$live" > /etc/dovecot/conf.d/99-dms.conf
        /usr/lib/postfix/configure-instance.sh -
        postfix start
        dovecot
        sums() { cat "$live"/*.pem | sha256sum; }
        last=$(sums)
        while sleep 1; do
            now=$(sums)
            if [[ $now != "$last" ]]; then last=$now; echo "certificate changed: reloading"; postfix reload; doveadm reload; fi
        done
        """#

    /// The settings that point the image at the test's Pebble, over the compose file's.
    func pointedAtPebble(_ engine: PodmanNamespace) -> [String] {
        ["--volume", engine.workDir + "/pebble:/pebble:ro", "--env", "OVERRIDE_HOSTNAME=" + name,
         "--env", "ACME_CA_URI=" + engine.pebbleDirectoryURL, "--env", "CA_BUNDLE=/pebble/pebble.pem"]
    }

    /// `podman healthcheck run` (no systemd here to schedule it) until it says healthy.
    func waitHealthy(_ engine: PodmanNamespace, _ container: String) throws {
        var last = ""
        do {
            try waitUntil("podman healthcheck run \(container) is healthy", timeout: 180, interval: 1) {
                let check = try engine.run(["podman", "healthcheck", "run", container], timeout: 60)
                last = check.output
                if check.output.contains("is not running") { throw TestFailure("the container is not running") }
                return check.status == 0
            }
        } catch {
            let logs = try? engine.run(["podman", "logs", container])
            throw TestFailure("\(error); last health check: \(last); container log: \(logs?.output.suffix(2000) ?? "")")
        }
    }

    /// The SHA-256 every endpoint serves, once `acme check` verifies all seven (Pebble's root,
    /// the name) serving one certificate for which `accept` holds.
    func waitServed(_ engine: PodmanNamespace, _ root: String, _ what: String,
                    _ accept: (String) -> Bool) throws -> String {
        var served: [String] = []
        var last = ""
        do {
            try waitUntil("every endpoint serves \(what)", timeout: 60, interval: 0.5) {
                let check = try engine.run([TestSupport.acmeBinary, "check"] + Self.endpoints
                                           + ["--servername", name, "--ca-file", root, "--json", "--timeout", "5"])
                last = check.output
                guard check.status == 0, let reports = try? JSONSerialization.jsonObject(with: Data(check.stdout.utf8)) as? [[String: Any]]
                else { return false }
                served = reports.compactMap { $0["verified"] as? Bool == true ? $0["sha256"] as? String : nil }
                return served.count == Self.endpoints.count && Set(served).count == 1 && accept(served[0])
            }
        } catch {
            throw TestFailure("\(error); last acme check: \(last.suffix(1500))")
        }
        return served[0]
    }

    func startedAt(_ engine: PodmanNamespace, _ container: String) throws -> String {
        try engine.podman(["inspect", "--format", "{{.State.StartedAt}} {{.State.Pid}}", container]).stdout
    }

    /// `podman stop` ends the container through its signal handling (exit 0) well before the
    /// 10-s timeout after which podman would kill it (exit 137).
    func stopCleanly(_ engine: PodmanNamespace, _ container: String) throws {
        let start = Date()
        try engine.podman(["stop", "--time", "10", container])
        let seconds = Date().timeIntervalSince(start)
        print("container: podman stop took \(String(format: "%.1f", seconds)) s")
        #expect(seconds < 8, "podman stop took \(seconds) s: the container did not end on SIGTERM")
        let exit = try engine.podman(["inspect", "--format", "{{.State.ExitCode}}", container]).stdout
        #expect(exit.trimmingCharacters(in: .whitespacesAndNewlines) == "0", "the container exited with status \(exit) on podman stop")
    }

    func archiveVersions(_ letsencrypt: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: letsencrypt + "/archive/" + name)) ?? []).sorted()
    }
}

/// One service of a compose file in `Sample-configs/container`, as `podman run` options
/// (`.ci/compose-run.py`: settings file, environment, hostname, volumes under the test's work
/// directory, stop grace period), with what the test checks against the image: ports, command,
/// depends_on.
struct ComposeService: CustomStringConvertible {
    var options: [String]
    var command: [String]
    var ports: [Int]
    var dependsOn: [String: String]
    var description: String { "options \(options), command \(command), ports \(ports), depends_on \(dependsOn)" }

    init(file: String, service: String, engine: PodmanNamespace) throws {
        let root = PodmanNamespace.repositoryRoot
        let result = try run("/usr/bin/python3", [root + "/.ci/compose-run.py", root + "/Sample-configs/container/" + file, service,
                                                  engine.workDir + "/compose", engine.volumePrefix])
        guard result.status == 0, let json = try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any] else {
            throw TestFailure("compose-run.py could not read service \(service) of \(file): \(result.output)")
        }
        options = json["options"] as? [String] ?? []
        command = json["command"] as? [String] ?? []
        ports = json["ports"] as? [Int] ?? []
        dependsOn = json["depends_on"] as? [String: String] ?? [:]
    }
}
