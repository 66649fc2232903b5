import Foundation
import TestFixtures
import Testing

/// Every subcommand with an invalid flag value, a missing file and (where it talks to one) an
/// unreachable CA: the exit status must be the one Docs/CLI.md's table gives for the category.
@Suite("exit codes follow Docs/CLI.md", .integration)
struct ExitCodeTests {
    /// category → exit code, read from the "Exit codes" table of Docs/CLI.md.
    static func documentedCodes() throws -> [String: Int32] {
        var docs = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { docs.deleteLastPathComponent() }
        let text = try String(contentsOf: docs.appendingPathComponent("Docs/CLI.md"), encoding: .utf8)
        guard let table = text.components(separatedBy: "## Exit codes").dropFirst().first else {
            throw TestFailure("Docs/CLI.md has no \"## Exit codes\" section")
        }
        var codes: [String: Int32] = [:]
        for line in table.split(separator: "\n") where line.hasPrefix("| ") {
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count > 3, let code = Int32(cells[1]) else { continue }
            for category in cells[2].split(separator: ",") { codes[category.trimmingCharacters(in: .whitespaces)] = code }
        }
        return codes
    }

    struct Case: CustomTestStringConvertible, Sendable {
        var label: String
        var arguments: [String]
        var category: String
        var testDescription: String { label }
    }

    /// Paths and ports shared by the cases: nothing listens on `closedPort`, nothing exists at `missing`.
    static let scratch = NSTemporaryDirectory() + "acme-exit-codes-\(getpid())"
    static let missing = scratch + "/does-not-exist"
    static let regularFile = scratch + "/file"
    static let closedPort = TestSupport.freePort()
    static var ca: [String] { ["--server", "https://127.0.0.1:\(closedPort)/dir", "--config-dir", scratch + "/le"] }
    static var unreachable: [String] { ca + ["--agree-tos"] }

    static let cases: [Case] = [
        Case(label: "issue: invalid --key-type", arguments: ["issue", "-d", "mail.example.test", "--key-type", "dsa"], category: "usage"),
        Case(label: "issue: invalid --cert-name", arguments: ["issue", "-d", "mail.example.test", "--cert-name", "../x"], category: "usage"),
        Case(label: "issue: --dns-resolver port out of range", arguments: ["issue", "-d", "*.example.test", "--dns-hook", "true", "--dns-resolver", "1.2.3.4:99999"] + unreachable, category: "usage"),
        Case(label: "issue: --dns-rfc2136 without --tsig-key", arguments: ["issue", "-d", "*.example.test", "--dns-rfc2136", "127.0.0.1:53"] + unreachable, category: "usage"),
        Case(label: "issue: --dns-rfc2136 and --dns-hook", arguments: ["issue", "-d", "mail.example.test", "--dns-rfc2136", "127.0.0.1", "--tsig-key", regularFile, "--dns-hook", "true"] + unreachable, category: "usage"),
        Case(label: "issue: --dns-rfc2136 port out of range", arguments: ["issue", "-d", "mail.example.test", "--dns-rfc2136", "127.0.0.1:0", "--tsig-key", regularFile] + unreachable, category: "usage"),
        Case(label: "issue: --http-01-address not an address", arguments: ["issue", "-d", "mail.example.test", "--http-01-address", "not-an-ip"] + unreachable, category: "usage"),
        Case(label: "issue: http:// server", arguments: ["issue", "-d", "mail.example.test", "--server", "http://127.0.0.1/dir", "--config-dir", scratch + "/le"], category: "usage"),
        Case(label: "issue: missing --ca-bundle", arguments: ["issue", "-d", "mail.example.test", "--ca-bundle", missing] + unreachable, category: "local-state"),
        Case(label: "issue: unreachable CA", arguments: ["issue", "-d", "mail.example.test"] + unreachable, category: "network"),
        Case(label: "renew: invalid --renew-within", arguments: ["renew", "--renew-within", "-1", "--config-dir", scratch], category: "usage"),
        Case(label: "renew: invalid --cert-name", arguments: ["renew", "--cert-name", "a/b", "--config-dir", scratch], category: "usage"),
        Case(label: "renew: missing config dir", arguments: ["renew", "--config-dir", missing], category: "local-state"),
        Case(label: "renew: config dir is a file", arguments: ["renew", "--config-dir", regularFile], category: "local-state"),
        Case(label: "certificates: missing config dir", arguments: ["certificates", "--config-dir", missing], category: "local-state"),
        Case(label: "certificates: config dir is a file", arguments: ["certificates", "--config-dir", regularFile, "--json"], category: "local-state"),
        Case(label: "revoke: invalid --reason", arguments: ["revoke", "--cert-path", regularFile, "--reason", "nope"], category: "usage"),
        Case(label: "revoke: missing --cert-path", arguments: ["revoke", "--cert-path", missing] + ca, category: "local-state"),
        Case(label: "revoke: no such lineage", arguments: ["revoke", "--cert-name", "nope.example.test", "--config-dir", scratch], category: "usage"),
        Case(label: "delete: invalid --cert-name", arguments: ["delete", "--cert-name", "..", "--config-dir", scratch], category: "usage"),
        Case(label: "delete: missing config dir", arguments: ["delete", "--cert-name", "mail.example.test", "--config-dir", missing], category: "local-state"),
        Case(label: "account register: invalid --account-key-type", arguments: ["account", "register", "--account-key-type", "dsa"] + unreachable, category: "usage"),
        Case(label: "account register: invalid --email", arguments: ["account", "register", "--email", "nobody"] + unreachable, category: "usage"),
        Case(label: "account register: missing --ca-bundle", arguments: ["account", "register", "--ca-bundle", missing] + unreachable, category: "local-state"),
        Case(label: "account register: unreachable CA", arguments: ["account", "register"] + unreachable, category: "network"),
        Case(label: "account show: no account stored", arguments: ["account", "show"] + ca, category: "usage"),
        Case(label: "account key-rollover: missing config dir", arguments: ["account", "key-rollover", "--server", "https://127.0.0.1:\(closedPort)/dir", "--config-dir", missing], category: "local-state"),
        Case(label: "account deactivate: without --yes", arguments: ["account", "deactivate"] + ca, category: "usage"),
        Case(label: "provision: invalid --ssl-type", arguments: ["provision", "--ssl-type", "snakeoil", "--hostname", "mail.example.test"], category: "usage"),
        Case(label: "provision: invalid TLS level", arguments: ["provision", "--ssl-type", "manual", "--tls-level", "ancient", "--hostname", "mail.example.test"], category: "usage"),
        Case(label: "provision: missing certificate file", arguments: ["provision", "--ssl-type", "manual", "--hostname", "mail.example.test", "--cert-path", missing, "--key-path", missing, "--tls-dir", scratch + "/tls", "--postfix-dir", scratch + "/postfix", "--dovecot-dir", scratch + "/dovecot"], category: "local-state"),
        Case(label: "provision: unreachable CA for --issue-if-missing", arguments: ["provision", "--ssl-type", "letsencrypt", "--hostname", "mail.example.test", "--issue-if-missing", "--tls-dir", scratch + "/tls", "--postfix-dir", scratch + "/postfix", "--dovecot-dir", scratch + "/dovecot", "--dms-config", scratch + "/dms"] + unreachable, category: "network"),
        Case(label: "check: invalid endpoint URL", arguments: ["check", "ftp://mail.example.test"], category: "usage"),
        Case(label: "check: missing --ca-file", arguments: ["check", "smtps://127.0.0.1:\(closedPort)", "--ca-file", missing], category: "local-state"),
        Case(label: "check: unreachable endpoint", arguments: ["check", "smtps://127.0.0.1:\(closedPort)", "--timeout", "2"], category: "network"),
        Case(label: "selfsigned: invalid --days", arguments: ["selfsigned", "--hostname", "mail.example.test", "--days", "0"], category: "usage"),
        Case(label: "selfsigned: output under a file", arguments: ["selfsigned", "--hostname", "mail.example.test", "--output", regularFile + "/ssl"], category: "local-state"),
        Case(label: "tlsa: invalid --port", arguments: ["tlsa", "--cert-path", regularFile, "--port", "0"], category: "usage"),
        Case(label: "tlsa: missing --cert-path", arguments: ["tlsa", "--cert-path", missing], category: "local-state"),
        Case(label: "tlsa: missing config dir", arguments: ["tlsa", "--cert-name", "mail.example.test", "--config-dir", missing], category: "local-state"),
    ]

    @Test("the documented exit code, one error line, nothing created", arguments: cases)
    func exitCode(_ testCase: Case) throws {
        let codes = try Self.documentedCodes()
        guard let expected = codes[testCase.category] else {
            throw TestFailure("Docs/CLI.md's exit code table has no category \(testCase.category) (it has \(codes.keys.sorted()))")
        }
        try FileManager.default.createDirectory(atPath: Self.scratch, withIntermediateDirectories: true)
        if !FileManager.default.fileExists(atPath: Self.regularFile) {
            try "not a directory\n".write(toFile: Self.regularFile, atomically: true, encoding: .utf8)
        }
        let result = try run(TestSupport.acmeBinary, testCase.arguments, environment: ["SSL_TYPE": "", "CA_BUNDLE": "", "ACME_CA_URI": ""],
                             timeout: 60)
        #expect(result.status == expected, "\(testCase.label): exit \(result.status), expected \(expected) (\(testCase.category)): \(result.stderr)")
        #expect(result.stderr.split(separator: "\n").contains { $0.hasPrefix("error: ") || $0.hasPrefix("Error: ") },
                "\(testCase.label): no error line: \(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: Self.missing), "\(testCase.label) created \(Self.missing)")
    }
}
