import ArgumentParser
import Base
import Challenges
import DANE
import Fleet
import FleetStore
import Issuance

struct Issue: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Obtain a certificate and store it in certbot's layout.",
        discussion: """
        Examples: acme issue -d mail.example.com -d smtp.example.com --email admin@example.com --agree-tos
                  acme issue -d mail.example.test --server https://localhost:14000/dir --ca-bundle pebble.pem --http-01-port 5002
        """)

    @Option(name: [.customShort("d"), .long], parsing: .unconditionalSingleValue, help: .init("A name for the certificate; repeat for more names (the first names the lineage).", valueName: "NAME")) var domain: [String] = []
    @OptionGroup var common: CommonOptions
    @OptionGroup var fleet: StoreOptions
    @OptionGroup var registration: RegistrationArguments
    @Option(help: .init("Lineage name under live/ (default: the first name).", valueName: "NAME"), transform: lineageName) var certName: String?
    @Option(help: .init("Certificate key: ec256 (default), ec384, rsa2048, rsa3072, rsa4096; or an ECDSA and an RSA one, e.g. ecdsa,rsa, for two lineages NAME and NAME-rsa obtained and renewed together.", valueName: "TYPE[,TYPE]"),
            transform: { try KeyTypeChoice(parsing: $0, flag: "--key-type") }) var keyType: KeyTypeChoice = .single(.ecdsa(.p256))
    @OptionGroup var responder: ResponderArguments
    @Option(help: .init("Answer HTTP-01 by writing files under DIR/.well-known/acme-challenge/ instead.", valueName: "DIR")) var webroot: String?
    @Option(name: .customLong("tls-alpn-01-port"), help: .init("Answer TLS-ALPN-01 instead, with the built-in TLS responder on this port (usually 443; saved for renewal).", valueName: "PORT")) var tlsALPNPort: Int?
    @Option(name: .customLong("tls-alpn-01-address"), help: .init("Address the TLS-ALPN-01 responder listens on (default: all).", valueName: "ADDRESS")) var tlsALPNAddress: String?
    @Option(help: .init("Answer DNS-01 instead: a shell command called with ACME_ACTION=add|remove, ACME_DOMAIN, ACME_TXT_NAME, ACME_VALIDATION, ACME_TOKEN, ACME_REMAINING_CHALLENGES (saved for renewal). Needed for wildcards.", valueName: "SCRIPT")) var dnsHook: String?
    @Option(help: .init("Seconds to wait after adding the TXT records; with --dns-resolver, the longest wait for them to appear there (default 0, or 120 with a resolver).", valueName: "SECONDS")) var dnsPropagationWait: Int?
    @Option(help: .init("Check the TXT records at this DNS server before the CA looks.", valueName: "HOST:PORT")) var dnsResolver: String?
    @Option(name: .customLong("dns-rfc2136"), help: .init("Answer DNS-01 instead by RFC 2136 dynamic updates at this primary DNS server, signed with --tsig-key (saved for renewal).", valueName: "SERVER[:PORT]")) var dnsRFC2136: String?
    @Option(help: .init("BIND key file (as tsig-keygen writes it; hmac-sha256 or hmac-sha512) that signs the --dns-rfc2136 updates.", valueName: "FILE")) var tsigKey: String?
    @Flag(help: "Run the DNS hook for all names at once (only if it can publish records side by side; saved for renewal).") var dnsHookParallel = false
    @Option(help: .init("Use the chain whose top certificate is issued by this common name, if the CA offers it.", valueName: "ISSUER CN")) var preferredChain: String?
    @Flag(help: "Issue even if a valid certificate for these names exists and is not due.") var forceRenewal = false
    @Option(help: .init("ACME profile to ask for if the CA offers it (e.g. classic, tlsserver, shortlived).", valueName: "NAME")) var preferredProfile: String?
    @Option(help: .init("ACME profile the CA must offer, else fail.", valueName: "NAME")) var requiredProfile: String?
    @Flag(help: "Keep the current private key when renewing (needed for DANE TLSA 3 1 1 records).") var reuseKey = false
    @Flag(help: "Maintain DANE TLSA records for this lineage (kept for renewal): publish the key's record, and before a renewal that changes the key publish the next key's record and wait until it has been visible at every authoritative server for 2 × TTL (Docs/DANE.md).") var dane = false
    @Option(help: .init("With --dane: also maintain _PORT._tcp.<name> (25 always); repeat for 465, 587, 993…", valueName: "PORT")) var danePort: [Int] = []
    @Option(help: .init("With --dane: 3 (DANE-EE, default: the server key) or 2 (DANE-TA: the issuing CA's key; breaks when the CA changes its intermediate).", valueName: "USAGE")) var daneUsage: Int?
    @Option(help: .init("With --dane: TTL of the TLSA records acme writes (default 300 s); a new key waits 2 × TTL after its record is visible.", valueName: "SECONDS")) var daneTtl: Int?
    @Option(name: .customLong("dane-rfc2136"), help: .init("With --dane: publish the TLSA records by RFC 2136 at this primary server, signed with --tsig-key (default: the --dns-rfc2136 server).", valueName: "SERVER[:PORT]")) var daneRFC2136: String?
    @Option(help: .init("With --dane: publish through this shell command, called with \(DANEHookVariables.summary) (default: the --dns-hook).", valueName: "COMMAND")) var daneHook: String?
    @Option(help: .init("With --dane-hook: the DNS server that finds each owner's zone and name servers (default: the system resolver).", valueName: "HOST:PORT")) var daneResolver: String?
    @Option(help: .init("Shell command run before contacting the CA (saved for renewal).", valueName: "COMMAND")) var preHook: String?
    @Option(help: .init("Shell command run after the certificate is saved, with RENEWED_LINEAGE and RENEWED_DOMAINS (saved for renewal).", valueName: "COMMAND")) var deployHook: String?
    @Option(help: .init("Shell command run at the end (saved for renewal).", valueName: "COMMAND")) var postHook: String?

    func validate() throws {
        if fleet.settings != nil, case .pair = keyType {
            throw ValidationError("--store with an ECDSA + RSA pair is not supported yet; issue each key type with its own --cert-name")
        }
        if domain.isEmpty { throw ValidationError("give at least one name with -d, e.g. -d mail.example.com") }
        if !dane, !danePort.isEmpty || daneUsage != nil || daneTtl != nil || daneRFC2136 != nil || daneHook != nil || daneResolver != nil {
            throw ValidationError("--dane-port, --dane-usage, --dane-ttl, --dane-rfc2136, --dane-hook and --dane-resolver go with --dane")
        }
        try challengeFlags.checkCombination()
        if dane { try challengeFlags.checkDANE(rfc2136: daneRFC2136, hook: daneHook, tsigKey: tsigKey) }
    }

    var challengeFlags: ChallengeFlags {
        ChallengeFlags(webroot: webroot, http01Address: responder.http01Address, tlsALPNPort: tlsALPNPort, tlsALPNAddress: tlsALPNAddress,
                       dnsHook: dnsHook, dnsPropagationWait: dnsPropagationWait, dnsResolver: dnsResolver, dnsRFC2136: dnsRFC2136,
                       dnsTSIGKey: dnsRFC2136 == nil && daneRFC2136 != nil ? nil : tsigKey, dnsHookParallel: dnsHookParallel)
    }

    func run() async throws {
        try await ExitStatus.run {
            let challenge = try ChallengeMethod(http01Port: responder.http01Port, http01Address: responder.http01Address, webroot: webroot,
                                                tlsALPNPort: tlsALPNPort, tlsALPNAddress: tlsALPNAddress, dnsHook: dnsHook,
                                                dnsPropagationWait: dnsPropagationWait, dnsResolver: dnsResolver,
                                                dnsRFC2136: dnsRFC2136, tsigKey: challengeFlags.dnsTSIGKey,
                                                dnsHookParallel: dnsHookParallel)
            var request = IssueRequest(names: try DomainName.normalize(all: domain), server: common.directoryURL,
                                       configDirectory: common.configDirectory, certName: certName, keyType: keyType.first,
                                       registration: try registration.options(), challenge: challenge, preferredChain: preferredChain,
                                       caBundle: common.caBundlePath, forceRenewal: forceRenewal, toolVersion: acmeVersion)
            request.profile = try ProfileChoice(preferred: preferredProfile, required: requiredProfile)
            request.reuseKey = reuseKey
            request.hooks = SavedHooks(pre: preHook, post: postHook, deploy: deployHook)
            if let store = fleet.settings {
                // Fleet mode: HTTP-01 and TLS-ALPN-01 are answered by every node from the store (acme respond, daemon --respond).
                let progress: EventSink = { [output = common.output] in output.step($0) }
                request.solverOverride = store.challengeSolvers(listening: LocalResponders(storeURL: store.url, keyFile: store.keyFile, progress: progress),
                                                                progress: progress)
            }
            if dane {
                request.keyRecords = try DANESettings(names: request.names, ports: danePort, usage: daneUsage, ttl: daneTtl, rfc2136: daneRFC2136,
                                                tsigKey: tsigKey, hook: daneHook, resolver: daneResolver, challenge: challenge)
            }
            let output = common.output
            if case .pair(_, let rsa) = keyType {
                let pair = try await common.issueWorkflow().runPair(request, rsaKeyType: rsa)
                output.detail("\(pair.requestCount) HTTP requests to the CA (ECDSA \(pair.ecdsa.requestCount), RSA \(pair.rsa.requestCount)); names validated: ECDSA \(pair.ecdsa.validatedNames), RSA \(pair.rsa.validatedNames)")
                report(pair.ecdsa, output: output)
                report(pair.rsa, output: output)
                return
            }
            let result: IssueResult
            if let store = fleet.settings {
                // Fleet mode: the store's lineages first (one it holds is not ordered again), the lock, publish.
                result = try await FleetIssue(store: store, progress: { output.step($0) }).run(request, workflow: common.issueWorkflow())
            } else {
                result = try await common.issueWorkflow().run(request)
            }
            output.detail("\(result.requestCount) HTTP requests to the CA")
            report(result, output: output)
        }
    }

    private func report(_ result: IssueResult, output: Output) {
        let names = result.names.joined(separator: ", ")
        switch result.outcome {
        case .notDue(let until):
            output.step("certificate \(result.lineageName) covers \(names) and is not due for renewal until \(until.utcText); nothing to do (use --force-renewal to issue anyway)")
        case .dryRun:
            output.result("dry run: the CA issued a certificate for \(names); nothing was saved")
        case .issued, .renewed:
            output.result("certificate: \(result.livePath)/fullchain.pem\nkey:         \(result.livePath)/privkey.pem\nexpires:     \(result.notAfter.utcText)")
        }
    }
}
