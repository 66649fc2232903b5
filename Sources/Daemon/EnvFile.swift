import Base

/// `--env-file`: docker's env_file format (KEY=VALUE per line, `#` comments, blank lines,
/// optional `export `, values optionally in matching quotes). Read at start and on SIGHUP;
/// its values win over the process environment for the provision settings.
public enum EnvFile {
    public static let maxBytes = 1 << 20

    public static func read(_ path: String) throws -> [String: String] {
        let text: String
        do { text = try FS.readNoFollow(path, limit: maxBytes) } catch {
            throw DaemonError(.unreadableEnvFile, "cannot read \(SettingName.envFile): \(error)")
        }
        return try parse(text, path: path)
    }

    public static func parse(_ text: String, path: String) throws -> [String: String] {
        var values: [String: String] = [:]
        for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = raw.trimmed
            if line.isEmpty || line.hasPrefix("#") { continue }
            if line.hasPrefix("export ") { line = line.dropFirst(7).trimmed }
            guard let equals = line.firstIndex(of: "=") else {
                throw DaemonError(.invalidEnvFile, "\(path) line \(number + 1): \(line.excerpt()) is not KEY=VALUE")
            }
            let key = String(line[..<equals])
            guard let first = key.first, first == "_" || first.isLetter,
                  key.allSatisfy({ $0 == "_" || ($0.isASCII && ($0.isLetter || $0.isNumber)) }) else {
                throw DaemonError(.invalidEnvFile, "\(path) line \(number + 1): \(key.excerpt()) is not a variable name")
            }
            var value = line[line.index(after: equals)...]
            if value.count >= 2, let quote = value.first, quote == "\"" || quote == "'", value.last == quote {
                value = value.dropFirst().dropLast()
            }
            values[key] = String(value)
        }
        return values
    }
}
