import Foundation

/// A real authoritative DNS server for RFC 2136 tests: BIND 9 (`named -g`) on a free loopback
/// port, primary for `example.test` (NS ns1.example.test → 127.0.0.1, `*` → 127.0.0.1 so that
/// HTTP-01 names resolve too), with TSIG key `acme-key` granted TXT and TLSA updates (`zonesub TXT TLSA`) and
/// key `other-key` known but granted nothing. If named does not start, the test fails.
final class Bind: @unchecked Sendable {
    let port: Int
    let directory: String
    /// Key files as tsig-keygen writes them.
    let keyFile: String
    let otherKeyFile: String
    private let process: Process

    static let zone = "example.test"
    /// A zone whose second name server (127.0.0.2) never gets the records: nothing listens there.
    static let laggingZone = "lagging.test"

    init() throws {
        let named = try TestSupport.require("named")
        let keygen = try TestSupport.require("tsig-keygen")
        directory = try TestSupport.temporaryDirectory("bind")
        port = TestSupport.freePort()
        keyFile = directory + "/acme-key.key"
        otherKeyFile = directory + "/other-key.key"
        for (name, file) in [("acme-key", keyFile), ("other-key", otherKeyFile)] {
            let made = try run(keygen, ["-a", "hmac-sha256", name])
            guard made.status == 0 else { throw TestFailure("tsig-keygen failed: \(made.output)") }
            try made.stdout.write(toFile: file, atomically: true, encoding: .utf8)
        }
        func zoneFile(_ zone: String, servers: [String]) -> String {
            var text = """
            $TTL 60
            @ IN SOA ns1.\(zone). hostmaster.\(zone). ( 1 60 60 600 60 )

            """
            for (index, address) in servers.enumerated() {
                text += "@ IN NS ns\(index + 1).\(zone).\nns\(index + 1) IN A \(address)\n"
            }
            return text + "* IN A 127.0.0.1\n"
        }
        try zoneFile(Self.zone, servers: ["127.0.0.1"]).write(toFile: directory + "/example.test.zone", atomically: true, encoding: .utf8)
        try zoneFile(Self.laggingZone, servers: ["127.0.0.1", "127.0.0.2"]).write(toFile: directory + "/lagging.test.zone", atomically: true, encoding: .utf8)
        try """
        include "\(keyFile)";
        include "\(otherKeyFile)";
        controls { };
        options {
            directory "\(directory)";
            pid-file "\(directory)/named.pid";
            session-keyfile "\(directory)/session.key";
            listen-on port \(port) { 127.0.0.1; };
            listen-on-v6 { none; };
            recursion no;
            notify no;
        };
        zone "\(Self.zone)" { type primary; file "\(directory)/example.test.zone"; update-policy { grant acme-key zonesub TXT TLSA; }; };
        zone "\(Self.laggingZone)" { type primary; file "\(directory)/lagging.test.zone"; update-policy { grant acme-key zonesub TXT TLSA; }; };

        """.write(toFile: directory + "/named.conf", atomically: true, encoding: .utf8)

        process = Process()
        process.executableURL = URL(fileURLWithPath: named)
        // -g: foreground, log to stderr; -n 1: one worker thread on this shared machine.
        process.arguments = ["-g", "-n", "1", "-c", directory + "/named.conf"]
        FileManager.default.createFile(atPath: directory + "/named.log", contents: nil)
        let output = FileHandle(forWritingAtPath: directory + "/named.log")
        process.standardOutput = output
        process.standardError = output
        try process.run()
        do {
            try TestSupport.waitForPort(port, timeout: 60, process: process, what: "named")
        } catch {
            stopProcess(process)
            throw TestFailure("BIND (named) did not start: \(error); its log: \(log(tail: 1500))")
        }
    }

    deinit { stopProcess(process) }

    /// The end of named's log (what it did with each update is there).
    func log(tail: Int = 3000) -> String {
        String(((try? String(contentsOfFile: directory + "/named.log", encoding: .utf8)) ?? "").suffix(tail))
    }

    /// A key file with acme-key's name and algorithm but another secret.
    func wrongSecretKeyFile() throws -> String {
        let path = directory + "/wrong-secret.key"
        try """
        key "acme-key" {
        \talgorithm hmac-sha256;
        \tsecret "\(Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString())";
        };

        """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// The TLSA records at `name` as named serves them now (`3 1 1 <lower-case hex>`), asked with dig.
    func tlsa(_ name: String) throws -> Set<String> {
        let dig = try TestSupport.require("dig")
        let result = try run(dig, ["@127.0.0.1", "-p", String(port), "+short", "+norecurse", "TLSA", name])
        guard result.status == 0 else { throw TestFailure("dig failed: \(result.output)") }
        return Set(result.stdout.split(separator: "\n").map { line in
            let fields = line.split(separator: " ")
            return (fields.prefix(3).map(String.init) + [fields.dropFirst(3).joined().lowercased()]).joined(separator: " ")
        })
    }

    /// The TXT values at `name` as named serves them now, asked with dig (not with acme's code).
    func txt(_ name: String) throws -> [String] {
        let dig = try TestSupport.require("dig")
        let result = try run(dig, ["@127.0.0.1", "-p", String(port), "+short", "+norecurse", "TXT", name])
        guard result.status == 0 else { throw TestFailure("dig failed: \(result.output)") }
        return result.stdout.split(separator: "\n").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }
    }
}
