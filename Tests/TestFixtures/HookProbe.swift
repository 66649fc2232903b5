import Glibc

/// A hook command for tests that records, for each call, the variables acme gives it
/// (`ACME_*`, `CERTBOT_*`, `RENEWED_*`), as a user's script would see them.
public struct HookProbe: Sendable {
    public let directory: String
    public var log: String { directory + "/calls" }

    public init() throws {
        var template = Array("/tmp/acme-hook-probe-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw TestFixtureFailure("mkdtemp failed (errno \(errno))") }
        directory = String(cString: made)
    }

    /// A shell command that appends its variables, one call per block, then runs `then`.
    public func command(then: String = "true") -> String {
        "{ env | grep -E '^(ACME_|CERTBOT_|RENEWED_)' | sort; echo --; } >> '\(log)'; \(then)"
    }

    /// The variables of each call, in call order.
    public func calls() -> [[String: String]] {
        guard let file = fopen(log, "r") else { return [] }
        defer { fclose(file) }
        var text = ""
        var buffer = [CChar](repeating: 0, count: 4096)
        while fgets(&buffer, Int32(buffer.count), file) != nil { text += String(cString: buffer) }
        var calls: [[String: String]] = []
        var variables: [String: String] = [:]
        for line in text.split(separator: "\n") {
            if line == "--" {
                calls.append(variables)
                variables = [:]
            } else if let equals = line.firstIndex(of: "=") {
                let name = String(line[..<equals]), value = String(line[line.index(after: equals)...])
                // What the test process has itself (ACME_CHECK_BLOCKING…) is not acme's doing.
                if getenv(name).map({ String(cString: $0) }) != value { variables[name] = value }
            }
        }
        return calls
    }

    /// The variables of each call, keeping only those whose names start with one of `prefixes` (what a test asserts).
    public func calls(keeping prefixes: [String]) -> [[String: String]] {
        calls().map { $0.filter { name, _ in prefixes.contains { name.hasPrefix($0) } } }
    }
}
