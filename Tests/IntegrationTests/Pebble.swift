import Foundation
import Testing

/// A real test CA: Pebble with pebble-challtestsrv as its DNS server (every name → 127.0.0.1),
/// on free loopback ports, validating HTTP-01 on `httpPort` (where our responder listens).
final class Pebble: @unchecked Sendable {
    let directory: String
    let acmePort: Int
    let managementPort: Int
    let httpPort: Int
    let tlsPort: Int
    let dnsPort: Int
    let challtestManagementPort: Int
    /// Pebble's own TLS certificate: what `--ca-bundle` must trust.
    let caBundle: String
    let workDir: String
    private var processes: [Process] = []

    static let eabKeys = [
        "kid-1": "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W",
    ]

    var directoryURL: String { "https://localhost:\(acmePort)/dir" }

    /// Starts Pebble. `nonceReject` is the percentage of good nonces Pebble rejects as bad.
    /// `dnsServerPort`: a DNS server on 127.0.0.1 (BIND) that Pebble asks instead of pebble-challtestsrv.
    init(nonceReject: Int = 0, requireEAB: Bool = false, authzReuse: Int = 0, alternateRoots: Int = 0, dnsServerPort: Int? = nil) throws {
        let pebble = try TestSupport.require("pebble")
        let challtest = try TestSupport.require("pebble-challtestsrv")
        workDir = try TestSupport.temporaryDirectory("pebble")
        acmePort = TestSupport.freePort()
        managementPort = TestSupport.freePort()
        httpPort = TestSupport.freePort()
        tlsPort = TestSupport.freePort()
        dnsPort = dnsServerPort ?? TestSupport.freePort()
        challtestManagementPort = TestSupport.freePort()
        caBundle = workDir + "/pebble-tls.pem"
        directory = workDir

        let tls = try run("/usr/bin/openssl", [
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", workDir + "/pebble-tls.key", "-out", caBundle, "-days", "7", "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ])
        guard tls.status == 0 else { throw TestFailure("openssl could not make Pebble's TLS certificate: \(tls.stderr)") }

        var config: [String: Any] = [
            "listenAddress": "127.0.0.1:\(acmePort)",
            "managementListenAddress": "127.0.0.1:\(managementPort)",
            "certificate": caBundle,
            "privateKey": workDir + "/pebble-tls.key",
            "httpPort": httpPort,
            "tlsPort": tlsPort,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": requireEAB,
        ]
        if requireEAB { config["externalAccountMACKeys"] = Pebble.eabKeys }
        let data = try JSONSerialization.data(withJSONObject: ["pebble": config])
        try data.write(to: URL(fileURLWithPath: workDir + "/pebble.json"))

        if dnsServerPort == nil {
            let dns = Process()
            dns.executableURL = URL(fileURLWithPath: challtest)
            dns.arguments = ["-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
                             "-dns01", "127.0.0.1:\(dnsPort)", "-http01", "", "-https01", "", "-tlsalpn01", "",
                             "-management", "127.0.0.1:\(challtestManagementPort)"]
            dns.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
            dns.standardError = FileHandle(forWritingAtPath: "/dev/null")
            try dns.run()
            processes.append(dns)
        }

        let ca = Process()
        ca.executableURL = URL(fileURLWithPath: pebble)
        ca.arguments = ["-config", workDir + "/pebble.json", "-dnsserver", "127.0.0.1:\(dnsPort)"]
        var env = ProcessInfo.processInfo.environment
        env["PEBBLE_VA_NOSLEEP"] = "1"
        env["PEBBLE_WFE_NONCEREJECT"] = String(nonceReject)
        env["PEBBLE_AUTHZREUSE"] = String(authzReuse)
        env["PEBBLE_ALTERNATE_ROOTS"] = String(alternateRoots)
        ca.environment = env
        FileManager.default.createFile(atPath: workDir + "/pebble.log", contents: nil)
        let log = FileHandle(forWritingAtPath: workDir + "/pebble.log")
        ca.standardOutput = log
        ca.standardError = log
        try ca.run()
        processes.append(ca)

        try waitForPort(acmePort, what: "pebble")
        try waitForPort(managementPort, what: "pebble management")
        if dnsServerPort == nil { try waitForPort(challtestManagementPort, what: "pebble-challtestsrv") }
    }

    deinit { stop() }

    func stop() {
        for p in processes where p.isRunning {
            stopProcess(p)
        }
        processes.removeAll()
    }

    private func waitForPort(_ port: Int, what: String) throws {
        do {
            try TestSupport.waitForPort(port, timeout: 60)
        } catch {
            let log = (try? String(contentsOfFile: workDir + "/pebble.log", encoding: .utf8)) ?? ""
            throw TestFailure("\(what) did not start listening on 127.0.0.1:\(port) within 60 s; pebble log: \(log.suffix(500))")
        }
    }

    /// Pebble's root for chain verification (it makes a new one per run).
    func rootPEM() throws -> String {
        let result = try run("/usr/bin/curl", ["-sf", "--cacert", caBundle, "https://127.0.0.1:\(managementPort)/roots/0"])
        guard result.status == 0, result.stdout.contains("BEGIN CERTIFICATE") else {
            throw TestFailure("could not fetch Pebble's root from its management port: \(result.stderr)")
        }
        return result.stdout
    }

    /// The arguments that point `acme` at this Pebble.
    func acmeArguments(configDir: String) -> [String] {
        ["--server", directoryURL, "--ca-bundle", caBundle, "--http-01-port", String(httpPort),
         "--http-01-address", "127.0.0.1", "--config-dir", configDir, "--agree-tos"]
    }
}

/// Debian's certbot against a Pebble, in its own work and log directories beside `configDir`.
func certbot(_ args: [String], pebble: Pebble, configDir: String) throws -> RunResult {
    let certbot = try TestSupport.require("certbot")
    let work = configDir + "/../certbot-work"
    return try run(certbot, args + ["--config-dir", configDir, "--work-dir", work, "--logs-dir", work + "/logs", "--non-interactive"],
                   environment: ["REQUESTS_CA_BUNDLE": pebble.caBundle])
}
