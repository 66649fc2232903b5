import Glibc

/// Where the process runs and what it is called: paths, host name, environment.
public enum LocalSystem {
    /// `path` made absolute against the working directory (`./x` and `.` included).
    public static func absolutePath(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX))
        // Without a working directory (deleted under us) the relative path is all we have.
        guard getcwd(&buffer, buffer.count) != nil else { return path }
        let cwd = String(cString: buffer)
        var relative = Substring(path)
        while relative.hasPrefix("./") { relative = relative.dropFirst(2) }
        if relative == "." || relative.isEmpty { return cwd }
        return (cwd == "/" ? "" : cwd) + "/" + relative
    }

    /// The kernel's host name (what certbot records in an account's meta.json).
    public static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        return String(cString: buffer)
    }

    /// What `hostname -f` prints: the host name, qualified through the resolver when it has no dot.
    public static func fullyQualifiedHostName() -> String {
        let short = hostName()
        if short.contains(".") { return short.lowercased() }
        var hints = addrinfo()
        hints.ai_flags = AI_CANONNAME
        var result: UnsafeMutablePointer<addrinfo>?
        // No resolver answer: the short name is what `hostname -f` falls back to as well.
        guard getaddrinfo(short, nil, &hints, &result) == 0, let result else { return short }
        defer { freeaddrinfo(result) }
        guard let canonical = result.pointee.ai_canonname else { return short }
        return String(cString: canonical).lowercased()
    }

    /// The process environment as a dictionary (for settings that read several variables).
    public static func environment() -> [String: String] {
        var result: [String: String] = [:]
        var index = 0
        while let entry = environ[index] {
            let text = String(cString: entry)
            if let equals = text.firstIndex(of: "=") {
                result[String(text[..<equals])] = String(text[text.index(after: equals)...])
            }
            index += 1
        }
        return result
    }

    /// A write to a socket or pipe whose reader has gone away fails with EPIPE instead of
    /// killing the process with SIGPIPE (OpenSSL writes with write(2), which has no
    /// MSG_NOSIGNAL): a peer that hangs up is an error like any other. Called once at the start
    /// of every command. A handler that does nothing rather than SIG_IGN, because an ignored
    /// signal stays ignored across exec: hooks, sendmail and reload commands start with the
    /// default SIGPIPE that their shell pipelines rely on.
    public static func ignoreBrokenPipes() {
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in }
        sigemptyset(&action.sa_mask)
        action.sa_flags = SA_RESTART
        sigaction(SIGPIPE, &action, nil)
    }

    /// One variable; nil when unset or empty.
    public static func environment(_ name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        let text = String(cString: value)
        return text.isEmpty ? nil : text
    }
}
