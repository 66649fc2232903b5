import CertStore
#if canImport(Glibc)
import Glibc
#endif

/// certbot's hook rules: commands from the command line or the renewal conf run through
/// `/bin/sh -c`; executables in `renewal-hooks/{pre,deploy,post}/` run in name order
/// before them; a command equal to a directory hook does not run twice. A failing hook is
/// reported and changes nothing that was already done.
public struct HookRunner: Sendable {
    public enum Kind: String, Sendable { case pre, deploy, post }

    public var configDirectory: String
    public var useDirectoryHooks: Bool
    public var report: @Sendable (String) -> Void
    private let runner = Subprocess()

    public init(configDirectory: String, useDirectoryHooks: Bool, report: @escaping @Sendable (String) -> Void) {
        self.configDirectory = FS.absolute(configDirectory)
        self.useDirectoryHooks = useDirectoryHooks
        self.report = report
    }

    /// Executable files in `renewal-hooks/<kind>/`, sorted by name.
    public func directoryHooks(_ kind: Kind) -> [String] {
        guard useDirectoryHooks else { return [] }
        let directory = "\(configDirectory)/renewal-hooks/\(kind.rawValue)"
        return FS.list(directory)
            .filter { !$0.hasPrefix(".") && !$0.hasSuffix("~") }
            .map { directory + "/" + $0 }
            .filter { !FS.isDirectory($0) && access($0, X_OK) == 0 }
    }

    /// Runs the directory hooks of `kind`, then each command not already run as one of them.
    /// Returns false if any failed.
    @discardableResult
    public func run(_ kind: Kind, commands: [String], environment: [String: String] = [:]) -> Bool {
        let directory = directoryHooks(kind)
        var ok = true
        for path in directory { ok = execute(kind, display: path, arguments: [path], environment: environment) && ok }
        var seen = Set(directory)
        for command in commands where !command.isEmpty && !seen.contains(command) {
            seen.insert(command)
            ok = execute(kind, display: command, arguments: ["/bin/sh", "-c", command], environment: environment) && ok
        }
        return ok
    }

    private func execute(_ kind: Kind, display: String, arguments: [String], environment: [String: String]) -> Bool {
        report("running \(kind.rawValue) hook: \(display)")
        let result = runner.run(arguments, environment: environment)
        for line in result.output.split(separator: "\n") { report("  \(line)") }
        guard result.succeeded else {
            report("\(kind.rawValue) hook \(display) failed with exit status \(result.status): \(result.lastLine)")
            return false
        }
        return true
    }
}
