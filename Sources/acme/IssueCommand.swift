import ACME
import ACMECrypto
import ArgumentParser
import Synchronization
import Challenges
import Issuance
import Renewal

struct Issue: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Obtain a certificate and store it in certbot's layout.",
        discussion: """
        Examples:
          acme issue -d mail.example.com --email admin@example.com --agree-tos
          acme issue -d mail.example.com -d smtp.example.com --staging
          acme issue -d mail.example.test --server https://localhost:14000/dir --ca-bundle pebble.pem --http-01-port 5002 --config-dir ./le
        """
    )

    @Option(name: [.customShort("d"), .long], parsing: .unconditionalSingleValue, help: ArgumentHelp("A name for the certificate; repeat for more names (the first names the lineage).", valueName: "NAME"))
    var domain: [String] = []

    @OptionGroup var common: CommonOptions
    @OptionGroup var registration: RegistrationArguments

    @Option(name: .long, help: ArgumentHelp("Lineage name under live/ (default: the first name).", valueName: "NAME"))
    var certName: String?

    @OptionGroup var key: KeyTypeArguments

    @OptionGroup var responder: ResponderArguments

    @Option(name: .long, help: ArgumentHelp("Answer HTTP-01 by writing files under DIR/.well-known/acme-challenge/ instead.", valueName: "DIR"))
    var webroot: String?

    @Option(name: .customLong("tls-alpn-01-port"), help: ArgumentHelp("Answer TLS-ALPN-01 instead, with the built-in TLS responder on this port (usually 443; saved for renewal).", valueName: "PORT"))
    var tlsALPNPort: Int?

    @Option(name: .customLong("tls-alpn-01-address"), help: ArgumentHelp("Address the TLS-ALPN-01 responder listens on (default: all).", valueName: "ADDRESS"))
    var tlsALPNAddress: String?

    @Option(name: .long, help: ArgumentHelp("Answer DNS-01 instead: a shell command called with ACME_ACTION=add|remove, ACME_DOMAIN, ACME_TXT_NAME, ACME_VALIDATION, ACME_TOKEN, ACME_REMAINING_CHALLENGES (saved for renewal). Needed for wildcards.", valueName: "SCRIPT"))
    var dnsHook: String?

    @Option(name: .long, help: ArgumentHelp("Seconds to wait after adding the TXT records; with --dns-resolver, the longest wait for them to appear there (default 0, or 120 with a resolver).", valueName: "SECONDS"))
    var dnsPropagationWait: Int?

    @Option(name: .long, help: ArgumentHelp("Check the TXT records at this DNS server before the CA looks.", valueName: "HOST:PORT"))
    var dnsResolver: String?

    @Option(name: .long, help: ArgumentHelp("Use the chain whose top certificate is issued by this common name, if the CA offers it.", valueName: "ISSUER CN"))
    var preferredChain: String?

    @Flag(name: .long, help: "Issue even if a valid certificate for these names exists and is not due.")
    var forceRenewal = false

    @OptionGroup var lifecycle: LifecycleArguments

    func validate() throws {
        if domain.isEmpty { throw ValidationError("give at least one name with -d, e.g. -d mail.example.com") }
        if webroot != nil, responder.http01Address != nil {
            throw ValidationError("--webroot and --http-01-address exclude each other: with --webroot your web server answers")
        }
        let methods = [dnsHook != nil ? "--dns-hook" : nil, webroot != nil ? "--webroot" : nil, tlsALPNPort != nil ? "--tls-alpn-01-port" : nil].compactMap { $0 }
        if methods.count > 1 {
            throw ValidationError("\(methods.joined(separator: " and ")) are different ways to answer the CA; give one")
        }
        if let port = tlsALPNPort, !(1...65535).contains(port) {
            throw ValidationError("--tls-alpn-01-port \(port) is not a port number (1-65535)")
        }
        if tlsALPNAddress != nil, tlsALPNPort == nil {
            throw ValidationError("--tls-alpn-01-address goes with --tls-alpn-01-port")
        }
        if dnsHook == nil, dnsPropagationWait != nil || dnsResolver != nil {
            throw ValidationError("--dns-propagation-wait and --dns-resolver go with --dns-hook")
        }
        if let wait = dnsPropagationWait, !(0...3600).contains(wait) {
            throw ValidationError("--dns-propagation-wait \(wait) is not between 0 and 3600 seconds")
        }
        if let hook = dnsHook, hook.allSatisfy({ $0 == " " || $0 == "\t" }) { throw ValidationError("--dns-hook needs a command") }
    }

    func run() async throws {
        let output = common.output
        do {
            let names = try DomainName.normalize(all: domain)
            var challenge: ChallengeMethod = webroot.map { .webroot(path: absolutePath($0)) } ?? responder.method
            if let tlsALPNPort { challenge = .tlsALPN(address: tlsALPNAddress, port: tlsALPNPort) }
            if let dnsHook {
                if let dnsResolver { _ = try TXTLookup(resolver: dnsResolver) }
                challenge = .dnsHook(script: dnsHook, propagationSeconds: dnsPropagationWait ?? (dnsResolver == nil ? 0 : 120),
                                     resolver: dnsResolver)
            }
            let hooks = HookRunner(configDirectory: common.configDirectory, useDirectoryHooks: false, report: { output.step($0) })
            // Set once the CA is contacted: the post hook runs only after an attempt.
            let attempted = AttemptFlag()
            let result: IssueResult
            do {
                result = try await Self.issue(names: names, common: common, registration: registration, certName: certName,
                                              keyType: key.type, challenge: challenge,
                                              preferredChain: preferredChain, forceRenewal: forceRenewal, lifecycle: lifecycle,
                                              attempted: attempted)
            } catch {
                // As certbot: the post hook runs after any attempt, also a failed one.
                if let post = lifecycle.postHook, attempted.isSet { hooks.run(.post, commands: [post]) }
                throw error
            }
            switch result.outcome {
            case .issued, .renewed:
                if let deploy = lifecycle.deployHook {
                    hooks.run(.deploy, commands: [deploy], environment: ["RENEWED_LINEAGE": result.livePath,
                                                                         "RENEWED_DOMAINS": result.names.joined(separator: " ")])
                }
            case .notDue, .dryRun:
                break
            }
            if let post = lifecycle.postHook, attempted.isSet { hooks.run(.post, commands: [post]) }
            switch result.outcome {
            case .notDue(let until):
                output.step("certificate \(result.lineageName) covers \(names.joined(separator: ", ")) and is not due for renewal until \(formatDate(until)); nothing to do (use --force-renewal to issue anyway)")
            case .dryRun:
                output.result("dry run: the CA issued a certificate for \(names.joined(separator: ", ")); nothing was saved")
            case .issued, .renewed:
                output.result("""
                certificate: \(result.livePath)/fullchain.pem
                key:         \(result.livePath)/privkey.pem
                expires:     \(formatDate(result.notAfter))
                """)
            }
        } catch {
            throw ExitStatus.fail(error)
        }
    }
}

extension Issue {
    /// One issuance as `acme issue` runs it; `acme provision --issue-if-missing` uses it too.
    static func issue(names: [String], common: CommonOptions, registration: RegistrationArguments, certName: String?,
                      keyType: KeyType, challenge: ChallengeMethod, preferredChain: String?, forceRenewal: Bool,
                      lifecycle: LifecycleArguments? = nil, attempted: AttemptFlag? = nil) async throws -> IssueResult {
        let output = common.output
        let (client, transport) = try common.makeClient(output: output)
        var request = IssueRequest(
            names: names, server: common.directoryURL, configDirectory: common.configDirectory,
            certName: certName, keyType: keyType, registration: try registration.options(), challenge: challenge,
            preferredChain: preferredChain, caBundle: common.caBundlePath,
            forceRenewal: forceRenewal, toolVersion: acmeVersion)
        if let lifecycle {
            request.profile = lifecycle.profile
            request.reuseKey = lifecycle.reuseKey
            request.hooks = SavedHooks(pre: lifecycle.preHook, post: lifecycle.postHook, deploy: lifecycle.deployHook)
        }
        // Only when the CA is really contacted: the CT notice (public CAs) and the pre hook.
        let notice = TransparencyNotice.applies(server: common.directoryURL, caBundle: common.caBundlePath)
            ? TransparencyNotice.text(names: names) : nil
        let preHook = lifecycle?.preHook
        let configDirectory = common.configDirectory
        request.beforeContactingCA = {
            attempted?.set()
            if let notice { output.step(notice) }
            if let preHook {
                HookRunner(configDirectory: configDirectory, useDirectoryHooks: false, report: { output.step($0) }).run(.pre, commands: [preHook])
            }
        }
        let lock = try common.lockConfigDirectory()
        defer { withExtendedLifetime(lock) {} }
        let result = try await Issuer(client: client, progress: { output.step($0) }).issue(request)
        output.detail("\(transport.requestCount) HTTP requests to the CA")
        return result
    }
}

/// A flag shared between the issuance (which sets it) and the command (which reads it).
final class AttemptFlag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .relaxed) }
    var isSet: Bool { value.load(ordering: .relaxed) }
}

/// What `issue` saves for renewal beyond the order itself: profile, key reuse, hooks.
struct LifecycleArguments: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("ACME profile to ask for if the CA offers it (e.g. classic, tlsserver, shortlived).", valueName: "NAME"))
    var preferredProfile: String?

    @Option(name: .long, help: ArgumentHelp("ACME profile the CA must offer, else fail.", valueName: "NAME"))
    var requiredProfile: String?

    @Flag(name: .long, help: "Keep the current private key when renewing (needed for DANE TLSA 3 1 1 records).")
    var reuseKey = false

    @Option(name: .long, help: ArgumentHelp("Shell command run before contacting the CA (saved for renewal).", valueName: "COMMAND"))
    var preHook: String?

    @Option(name: .long, help: ArgumentHelp("Shell command run after the certificate is saved, with RENEWED_LINEAGE and RENEWED_DOMAINS (saved for renewal).", valueName: "COMMAND"))
    var deployHook: String?

    @Option(name: .long, help: ArgumentHelp("Shell command run at the end (saved for renewal).", valueName: "COMMAND"))
    var postHook: String?

    func validate() throws {
        if preferredProfile != nil, requiredProfile != nil {
            throw ValidationError("--preferred-profile and --required-profile exclude each other; give one")
        }
        for name in [preferredProfile, requiredProfile].compactMap({ $0 }) where name.isEmpty || name.contains(where: { $0 == " " || $0 == "," }) {
            throw ValidationError("profile \"\(name)\" is not a profile name such as classic or tlsserver")
        }
    }

    var profile: ProfileChoice? {
        if let requiredProfile { return .required(requiredProfile) }
        return preferredProfile.map { .preferred($0) }
    }
}

/// `--key-type` of a new certificate, shared by `issue` and `provision --issue-if-missing`.
struct KeyTypeArguments: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Certificate key: ec256 (default), ec384, rsa2048, rsa3072, rsa4096.", valueName: "TYPE"))
    var keyType = "ec256"

    func validate() throws {
        if KeyType(parsing: keyType) == nil {
            throw ValidationError("--key-type \(keyType) is not one of ec256, ec384, rsa2048, rsa3072, rsa4096")
        }
    }

    /// Valid once `validate()` passed.
    var type: KeyType { KeyType(parsing: keyType) ?? .ecdsa(.p256) }
}

/// The built-in HTTP-01 responder's flags, shared by `issue` and `provision --issue-if-missing`.
struct ResponderArguments: ParsableArguments {
    @Option(name: .customLong("http-01-port"), help: ArgumentHelp("Port of the built-in HTTP-01 responder.", valueName: "PORT"))
    var http01Port = 80

    @Option(name: .customLong("http-01-address"), help: ArgumentHelp("Address the responder listens on (default: all).", valueName: "ADDRESS"))
    var http01Address: String?

    func validate() throws {
        if !(1...65535).contains(http01Port) { throw ValidationError("--http-01-port \(http01Port) is not a port number (1-65535)") }
    }

    var method: ChallengeMethod { .standalone(address: http01Address, port: http01Port) }
}

/// Account registration flags, shared by `issue` and `account register`.
struct RegistrationArguments: ParsableArguments {
    @Option(name: [.short, .long], help: ArgumentHelp("Contact address for the CA's expiry and policy mail.", valueName: "ADDRESS"))
    var email: String?

    @Flag(name: .long, help: "Agree to the CA's terms of service (required when the CA has them).")
    var agreeTos = false

    @Option(name: .long, help: ArgumentHelp("External Account Binding key identifier from your CA.", valueName: "KID"))
    var eabKid: String?

    @Option(name: .long, help: ArgumentHelp("External Account Binding HMAC key (base64url) from your CA.", valueName: "KEY"))
    var eabHmacKey: String?

    @Option(name: .long, help: ArgumentHelp("Key type of a new account: rsa2048 (default, certbot can use it), ec256, ec384.", valueName: "TYPE"))
    var accountKeyType = "rsa2048"

    func validate() throws {
        if (eabKid == nil) != (eabHmacKey == nil) {
            throw ValidationError("--eab-kid and --eab-hmac-key go together; give both or neither")
        }
        if let eabHmacKey, Base64URL.decode(eabHmacKey)?.isEmpty ?? true {
            throw ValidationError("--eab-hmac-key is not base64url text; copy it exactly as your CA shows it")
        }
        if KeyType(parsing: accountKeyType) == nil {
            throw ValidationError("--account-key-type \(accountKeyType) is not one of rsa2048, rsa3072, rsa4096, ec256, ec384")
        }
        if let email, !email.contains("@") || email.contains(" ") || email.contains(",") {
            throw ValidationError("--email \(email) is not a mail address")
        }
    }

    func options() throws -> RegistrationOptions {
        var eab: ExternalAccountBinding?
        if let eabKid, let eabHmacKey, let mac = Base64URL.decode(eabHmacKey) {
            eab = ExternalAccountBinding(keyID: eabKid, macKey: mac)
        }
        return RegistrationOptions(email: email, agreeTOS: agreeTos, eab: eab,
                                   accountKeyType: KeyType(parsing: accountKeyType) ?? .rsa(bits: 2048))
    }
}

/// `2026-02-23 10:00:00 UTC`
func formatDate(_ date: Date) -> String {
    date.formatted(.iso8601).replacing("T", with: " ").replacing("Z", with: " UTC")
}
