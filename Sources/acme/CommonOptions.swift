import ACME
import ACMEHTTP
import ACMECrypto
import ArgumentParser
import Base
import Challenges
import Glibc
import Issuance

let acmeVersion = "0.1.0"

/// `--config-dir`, for every command that reads or changes the certbot layout.
struct ConfigDirectoryArguments: ParsableArguments {
    @Option(help: .init("Where certificates and accounts live, in certbot's layout.", valueName: "DIR")) var configDir = "/etc/letsencrypt"

    var configDirectory: String { LocalSystem.absolutePath(configDir) }
}

/// `--quiet` and `--verbose`.
struct OutputArguments: ParsableArguments {
    @Flag(name: [.short, .long], help: "Print only errors.") var quiet = false
    @Flag(name: [.short, .long], help: "Also print every request to the CA and its status (never key material).") var verbose = false

    func validate() throws {
        if quiet, verbose { throw ValidationError("--quiet and --verbose contradict each other; give only one") }
    }

    var output: Output { Output(quiet: quiet, verbose: verbose) }

    /// Clients for the CAs a command talks to, printing requests with --verbose.
    var clientFactory: ACMEClientFactory {
        let output = output
        let verbose: (EventSink)? = output.verbose ? { @Sendable line in output.detail(line) } : nil
        return {
            try ACMEClient.connect($0, transport: { server in
                try CurlTransport(configuration: HTTPConfiguration(caBundle: server.caBundle, userAgent: "acme/\(acmeVersion)"))
            }, verbose: verbose)
        }
    }
}

/// `--ca-bundle FILE`, else the environment's `CA_BUNDLE`, as an absolute path.
func resolveCABundle(_ flag: String?) -> String? {
    (flag ?? LocalSystem.environment("CA_BUNDLE")).map(LocalSystem.absolutePath)
}

/// Options every command that talks to a CA shares.
struct CommonOptions: ParsableArguments {
    @Option(help: .init("ACME directory URL of the CA (env ACME_CA_URI; default Let's Encrypt).", valueName: "URL")) var server: String?
    @Flag(help: "Use Let's Encrypt's staging CA (untrusted test certificates, generous rate limits).") var staging = false
    @Option(help: .init("PEM file of CA certificates to trust for the ACME server instead of the system store (env CA_BUNDLE).", valueName: "FILE")) var caBundle: String?
    @OptionGroup var store: ConfigDirectoryArguments
    @OptionGroup var printing: OutputArguments

    func validate() throws {
        if staging, server != nil { throw ValidationError("--staging and --server both choose the CA; give only one") }
    }

    var output: Output { printing.output }
    var configDirectory: String { store.configDirectory }
    var caBundlePath: String? { resolveCABundle(caBundle) }

    /// The CA chosen on the command line (--server or --staging), if any.
    var chosenServer: String? { server ?? (staging ? LetsEncrypt.staging : nil) }

    /// --server, else --staging, else ACME_CA_URI, else Let's Encrypt production.
    var directoryURL: String { chosenServer ?? LocalSystem.environment("ACME_CA_URI") ?? LetsEncrypt.production }

    var ca: CAServer { CAServer(directoryURL: directoryURL, caBundle: caBundlePath) }

    /// An account service for the chosen CA.
    func accounts() throws -> AccountService {
        let output = output
        return AccountService(configDirectory: configDirectory, client: try printing.clientFactory(ca),
                              server: directoryURL, progress: { output.step($0) })
    }

    /// The issuing workflow `issue` and `provision --issue-if-missing` share.
    func issueWorkflow() -> IssueWorkflow {
        let output = output
        var workflow = IssueWorkflow(makeClient: printing.clientFactory, progress: { output.step($0) })
        workflow.transparencyNotice = !output.quiet
        workflow.waiting = output.waiting(configDirectory)
        return workflow
    }
}

/// `--key-type` of a new certificate, shared by `issue` and `selfsigned`.
struct KeyTypeArguments: ParsableArguments {
    @Option(help: .init("Certificate key: ec256 (default), ec384, rsa2048, rsa3072, rsa4096.", valueName: "TYPE"),
            transform: { try KeyType(parsing: $0, flag: "--key-type") }) var keyType: KeyType = .ecdsa(.p256)
}

/// The built-in HTTP-01 responder's flags, shared by `issue` and `provision --issue-if-missing`.
struct ResponderArguments: ParsableArguments {
    @Option(name: .customLong("http-01-port"), help: .init("Port of the built-in HTTP-01 responder.", valueName: "PORT")) var http01Port = 80
    @Option(name: .customLong("http-01-address"), help: .init("Address the responder listens on (default: all).", valueName: "ADDRESS")) var http01Address: String?

    func method() throws -> ChallengeMethod {
        try ChallengeMethod(http01Port: http01Port, http01Address: http01Address)
    }
}

/// Account registration flags, shared by `issue`, `provision` and `account register`.
struct RegistrationArguments: ParsableArguments {
    @Option(name: [.short, .long], help: .init("Contact address for the CA's expiry and policy mail.", valueName: "ADDRESS")) var email: String?
    @Flag(help: "Agree to the CA's terms of service (required when the CA has them).") var agreeTos = false
    @Option(help: .init("External Account Binding key identifier from your CA.", valueName: "KID")) var eabKid: String?
    @Option(help: .init("External Account Binding HMAC key (base64url) from your CA.", valueName: "KEY")) var eabHmacKey: String?
    @Option(help: .init("Key type of a new account: rsa2048 (default, certbot can use it), ec256, ec384.", valueName: "TYPE"),
            transform: { try KeyType(parsing: $0, flag: "--account-key-type") }) var accountKeyType: KeyType = .rsa(bits: 2048)

    func options() throws -> RegistrationOptions {
        try RegistrationOptions(email: email, agreeTOS: agreeTos, eabKid: eabKid, eabHmacKey: eabHmacKey, accountKeyType: accountKeyType)
    }
}

/// `--cert-name`: a lineage name, checked when parsed (64 in every command).
func lineageName(_ text: String) throws -> String {
    do { try validatePathComponent(text, what: "certificate name") } catch { throw ValidationError("\(error)") }
    return text
}

/// For tests only: `ACME_TEST_CLOCK_OFFSET=SECONDS` (0 to 10 years) moves `acme renew`'s clock
/// forward, so that tests of time-driven steps (DANE's 2 × TTL waits) advance the clock instead of
/// sleeping, and their verdicts do not depend on how fast the machine is. Anything else is ignored.
enum TestClock {
    static var offset: TimeInterval? {
        guard let text = getenv("ACME_TEST_CLOCK_OFFSET").map({ String(cString: $0) }),
              let seconds = Int(text), (0...10 * 366 * 86400).contains(seconds), seconds > 0 else { return nil }
        return TimeInterval(seconds)
    }
}
