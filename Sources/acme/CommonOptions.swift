import ACME
import ACMEHTTP
import ArgumentParser
import CertStore
import Issuance

#if canImport(Glibc)
import Glibc
#endif

let acmeVersion = "0.1.0"

/// `--config-dir`, for every command that reads or changes the certbot layout.
struct ConfigDirectoryArguments: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Where certificates and accounts live, in certbot's layout.", valueName: "DIR"))
    var configDir = "/etc/letsencrypt"

    var configDirectory: String { absolutePath(configDir) }

    /// Takes the config directory's lock (shared with certbot), waiting for another run.
    func lock(output: Output) throws -> ConfigLock {
        let directory = configDirectory
        return try ConfigLock(configDirectory: directory, wait: true) {
            output.step("another acme or certbot run is using \(directory); waiting for it to finish")
        }
    }
}

/// `--quiet` and `--verbose`.
struct OutputArguments: ParsableArguments {
    @Flag(name: [.short, .long], help: "Print only errors.")
    var quiet = false

    @Flag(name: [.short, .long], help: "Also print every request to the CA and its status (never key material).")
    var verbose = false

    func validate() throws {
        if quiet, verbose {
            throw ValidationError("--quiet and --verbose contradict each other; give only one")
        }
    }

    var output: Output { Output(quiet: quiet, verbose: verbose) }
}

/// `--ca-bundle FILE`, else the environment's `CA_BUNDLE`, as an absolute path.
func resolveCABundle(_ flag: String?) -> String? {
    if let flag { return absolutePath(flag) }
    if let env = environment("CA_BUNDLE"), !env.isEmpty { return absolutePath(env) }
    return nil
}

/// An ACME client for `server`: one curl handle, the CA bundle loaded once. `fix` says where
/// a non-HTTPS URL came from and how to correct it.
func makeACMEClient(server: String, caBundle: String?, output: Output, fix: String) throws -> (ACMEClient, CurlTransport) {
    // RFC 8555 §6.1: ACME runs over HTTPS only, and we always verify the server.
    guard server.hasPrefix("https://") else {
        throw UsageError("\(server) is not an https:// URL; ACME requires HTTPS: \(fix)")
    }
    let transport = try CurlTransport(configuration: HTTPConfiguration(caBundle: caBundle, userAgent: "acme/\(acmeVersion)"))
    let verbose: (@Sendable (String) -> Void)? = output.verbose ? { @Sendable line in output.detail(line) } : nil
    return (ACMEClient(directoryURL: server, transport: transport, verbose: verbose), transport)
}

/// Options every command that talks to a CA or reads the config directory shares.
struct CommonOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("ACME directory URL of the CA (env ACME_CA_URI; default Let's Encrypt).", valueName: "URL"))
    var server: String?

    @Flag(name: .long, help: "Use Let's Encrypt's staging CA (untrusted test certificates, generous rate limits).")
    var staging = false

    @Option(name: .long, help: ArgumentHelp("PEM file of CA certificates to trust for the ACME server instead of the system store (env CA_BUNDLE).", valueName: "FILE"))
    var caBundle: String?

    @OptionGroup var store: ConfigDirectoryArguments
    @OptionGroup var printing: OutputArguments

    func validate() throws {
        if staging, server != nil {
            throw ValidationError("--staging and --server both choose the CA; give only one")
        }
    }

    var output: Output { printing.output }

    /// --server, else --staging, else ACME_CA_URI, else Let's Encrypt production.
    var directoryURL: String {
        if let server { return server }
        if staging { return LetsEncrypt.staging }
        if let env = environment("ACME_CA_URI"), !env.isEmpty { return env }
        return LetsEncrypt.production
    }

    var caBundlePath: String? { resolveCABundle(caBundle) }

    var configDirectory: String { store.configDirectory }

    func lockConfigDirectory() throws -> ConfigLock { try store.lock(output: output) }

    /// One client per run: one curl handle, the CA bundle loaded once.
    func makeClient(output: Output) throws -> (ACMEClient, CurlTransport) {
        try makeACMEClient(server: directoryURL, caBundle: caBundlePath, output: output,
                           fix: "give the CA's directory URL to --server")
    }
}

func environment(_ name: String) -> String? {
    guard let value = getenv(name) else { return nil }
    return String(cString: value)
}

func absolutePath(_ path: String) -> String {
    if path.hasPrefix("/") { return path }
    var buffer = [CChar](repeating: 0, count: Int(PATH_MAX))
    guard getcwd(&buffer, buffer.count) != nil else { return path }
    let cwd = String(cString: buffer)
    var relative = Substring(path)
    while relative.hasPrefix("./") { relative = relative.dropFirst(2) }
    return relative.isEmpty || relative == "." ? cwd : cwd + "/" + relative
}
