import ACME
import ACMEHTTP
import ArgumentParser
import CertStore

#if canImport(Glibc)
import Glibc
#endif

let acmeVersion = "0.1.0"

enum KnownServers {
    static let letsEncrypt = "https://acme-v02.api.letsencrypt.org/directory"
    static let letsEncryptStaging = "https://acme-staging-v02.api.letsencrypt.org/directory"
}

/// Options every command that talks to a CA or reads the config directory shares.
struct CommonOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("ACME directory URL of the CA (env ACME_CA_URI; default Let's Encrypt).", valueName: "URL"))
    var server: String?

    @Flag(name: .long, help: "Use Let's Encrypt's staging CA (untrusted test certificates, generous rate limits).")
    var staging = false

    @Option(name: .long, help: ArgumentHelp("PEM file of CA certificates to trust for the ACME server instead of the system store (env CA_BUNDLE).", valueName: "FILE"))
    var caBundle: String?

    @Option(name: .long, help: ArgumentHelp("Where certificates and accounts live, in certbot's layout.", valueName: "DIR"))
    var configDir = "/etc/letsencrypt"

    @Flag(name: [.short, .long], help: "Print only errors.")
    var quiet = false

    @Flag(name: [.short, .long], help: "Also print every request to the CA and its status (never key material).")
    var verbose = false

    func validate() throws {
        if staging, server != nil {
            throw ValidationError("--staging and --server both choose the CA; give only one")
        }
        if quiet, verbose {
            throw ValidationError("--quiet and --verbose contradict each other; give only one")
        }
    }

    var output: Output { Output(quiet: quiet, verbose: verbose) }

    /// --server, else --staging, else ACME_CA_URI, else Let's Encrypt production.
    var directoryURL: String {
        if let server { return server }
        if staging { return KnownServers.letsEncryptStaging }
        if let env = environment("ACME_CA_URI"), !env.isEmpty { return env }
        return KnownServers.letsEncrypt
    }

    var caBundlePath: String? {
        if let caBundle { return absolutePath(caBundle) }
        if let env = environment("CA_BUNDLE"), !env.isEmpty { return absolutePath(env) }
        return nil
    }

    var configDirectory: String { absolutePath(configDir) }

    func checkServerURL() throws {
        let url = directoryURL
        // RFC 8555 §6.1: ACME runs over HTTPS only, and we always verify the server.
        guard url.hasPrefix("https://") else {
            throw UsageError("\(url) is not an https:// URL; ACME requires HTTPS: give the CA's directory URL to --server")
        }
    }

    /// Takes the config directory's lock (shared with certbot), waiting for another run.
    func lockConfigDirectory() throws -> ConfigLock {
        let out = output
        return try ConfigLock(configDirectory: configDirectory, wait: true) {
            out.step("another acme or certbot run is using \(configDirectory); waiting for it to finish")
        }
    }

    /// One client per run: one curl handle, the CA bundle loaded once.
    func makeClient(output: Output) throws -> (ACMEClient, CurlTransport) {
        try checkServerURL()
        let transport = try CurlTransport(configuration: HTTPConfiguration(caBundle: caBundlePath, userAgent: "acme/\(acmeVersion)"))
        let verbose: (@Sendable (String) -> Void)? = output.verbose ? { @Sendable line in output.detail(line) } : nil
        return (ACMEClient(directoryURL: directoryURL, transport: transport, verbose: verbose), transport)
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
