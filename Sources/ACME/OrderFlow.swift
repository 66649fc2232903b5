import ACMECrypto

/// One certificate order from `newOrder` to the downloaded chain (RFC 8555 §7.4):
/// authorizations, challenges answered together and polled together, finalize,
/// polling while the CA processes, download and choice of an alternate chain.
public struct OrderFlow: Sendable {
    public var client: ACMEClient
    public var credentials: AccountCredentials
    public var solver: any ChallengeSolver
    /// One human line per step, for the CLI's progress output.
    public var progress: @Sendable (String) -> Void
    /// How long validation and issuance may take before we give up.
    public var timeout: Duration = .seconds(300)

    public init(client: ACMEClient, credentials: AccountCredentials, solver: any ChallengeSolver,
                progress: @escaping @Sendable (String) -> Void) {
        self.client = client
        self.credentials = credentials
        self.solver = solver
        self.progress = progress
    }

    public struct Result: Sendable {
        /// The chosen chain: leaf first.
        public var chainPEM: String
        public var orderURL: String
    }

    /// Runs the order for `names` and returns the certificate chain for `csr`.
    /// `preferredChain` is an issuer common name matched against the top certificate of each offered chain.
    /// `replaces` is the ARI id of the certificate this one renews (RFC 9773 §5).
    public func run(names: [String], csr: [UInt8], profile: String? = nil, replaces: String? = nil,
                    preferredChain: String? = nil) async throws -> Result {
        let deadline = ContinuousClock.now + timeout
        var order: Order
        do {
            order = try await client.newOrder(credentials, names: names, profile: profile, replaces: replaces)
        } catch let error as ACMEError where replaces != nil && error.code == .problem {
            // RFC 9773 §5: a CA may refuse `replaces` (already replaced, another account);
            // the renewal must still go ahead, so ask again without it.
            progress("the CA refused \"replaces\" (\(error.problem?.summary ?? "no reason")); ordering without it")
            order = try await client.newOrder(credentials, names: names, profile: profile)
        }
        progress("order created: \(order.url)")
        if order.status == "invalid" {
            throw ACMEError(.validationFailed, "the CA created the order invalid: \(order.error?.summary ?? "no reason given")", problem: order.error)
        }
        if order.status == "pending" {
            try await authorize(order, deadline: deadline)
        }
        progress("finalizing")
        var retryAfter: Duration?
        do {
            (order, retryAfter) = try await client.finalize(credentials, order: order, csr: csr)
        } catch let error as ACMEError where error.problem?.shortType == "orderNotReady" {
            // Some CAs move the order to "ready" a moment after the last authorization.
            order = try await poll(order, until: ["ready"], retryAfter: nil, deadline: deadline)
            (order, retryAfter) = try await client.finalize(credentials, order: order, csr: csr)
        }
        // Issuance after a finalize usually takes milliseconds to a second: start polling early
        // (the CA's Retry-After, when it sends one, still decides).
        order = try await poll(order, until: ["valid"], retryAfter: retryAfter, backoff: Backoff(initial: .milliseconds(10)), deadline: deadline)
        guard let certificateURL = order.certificate else {
            throw ACMEError(.malformedResponse, "order \(order.url) is valid but names no certificate URL")
        }
        let chain = try await chooseChain(certificateURL, preferredIssuer: preferredChain)
        return Result(chainPEM: chain, orderURL: order.url)
    }

    // MARK: Authorizations

    private func authorize(_ order: Order, deadline: ContinuousClock.Instant) async throws {
        var pending: [(authz: Authorization, challenge: Challenge)] = []
        var total = 0
        for url in order.authorizations {
            let (authz, _) = try await client.authorization(credentials, url: url)
            total += 1
            switch authz.status {
            case "valid": continue
            case "pending":
                guard let challenge = authz.challenges.first(where: { $0.type == solver.challengeType }) else {
                    let offered = authz.challenges.map(\.type).joined(separator: ", ")
                    throw ACMEError(.usage, "the CA offers no \(solver.challengeType) challenge for \(authz.displayName) (it offers: \(offered))")
                }
                pending.append((authz, challenge))
            default:
                throw ACMEError(.validationFailed, "authorization for \(authz.displayName) is \(authz.status): \(failureReason(authz))")
            }
        }
        guard !pending.isEmpty else {
            progress("all \(total) names already authorized")
            return
        }

        let thumbprint = credentials.key.publicJWK.thumbprint
        var presented: [(String, String)] = []
        do {
            await solver.willPresent(count: pending.count)
            for (authz, challenge) in pending {
                guard let token = challenge.token else {
                    throw ACMEError(.malformedResponse, "\(challenge.type) challenge for \(authz.displayName) has no token")
                }
                // RFC 8555 §8.1: keyAuthorization = token || '.' || base64url(Thumbprint(accountKey))
                try await solver.present(identifier: authz.identifier.value, token: token, keyAuthorization: token + "." + thumbprint)
                presented.append((authz.identifier.value, token))
            }
            try await solver.awaitPublished()
            progress("validating \(pending.count) name\(pending.count == 1 ? "" : "s") with \(solver.challengeType)")
            // Every challenge is triggered before any is polled: the CA validates them side by side.
            for (_, challenge) in pending where challenge.status == "pending" {
                _ = try await client.respond(credentials, to: challenge)
            }
            // When the solver sees the CA fetch every token, validation is nearly
            // done: poll soon. Otherwise start with the usual backoff.
            let fetched = await solver.waitForFetch(tokens: presented.map(\.1), limit: .seconds(5))
            try await pollAuthorizations(pending.map(\.authz), alreadyValid: total - pending.count, total: total,
                                         backoff: fetched ? Backoff(initial: .milliseconds(10)) : Backoff(), deadline: deadline)
        } catch {
            for (identifier, token) in presented { await solver.cleanup(identifier: identifier, token: token) }
            throw error
        }
        for (identifier, token) in presented { await solver.cleanup(identifier: identifier, token: token) }
    }

    private func pollAuthorizations(_ authorizations: [Authorization], alreadyValid: Int, total: Int,
                                    backoff initial: Backoff, deadline: ContinuousClock.Instant) async throws {
        var waiting = authorizations
        var valid = alreadyValid
        var backoff = initial
        var serverDelay: Duration?
        while !waiting.isEmpty {
            try await sleepBeforePoll(&backoff, retryAfter: serverDelay, deadline: deadline,
                                      what: "validation of " + waiting.map(\.displayName).joined(separator: ", "))
            serverDelay = nil
            var still: [Authorization] = []
            for authz in waiting {
                let (current, retryAfter) = try await client.authorization(credentials, url: authz.url)
                switch current.status {
                case "valid":
                    valid += 1
                    progress("validated \(current.displayName) (\(valid)/\(total))")
                case "pending", "processing":
                    still.append(current)
                    if let retryAfter { serverDelay = max(serverDelay ?? .zero, retryAfter) }
                default:
                    throw ACMEError(.validationFailed, "validation of \(current.displayName) failed: \(failureReason(current))",
                                    problem: current.challenges.compactMap(\.error).first)
                }
            }
            waiting = still
        }
    }

    private func failureReason(_ authz: Authorization) -> String {
        if let problem = authz.challenges.compactMap(\.error).first { return problem.summary }
        return "status \(authz.status), no error given by the CA"
    }

    // MARK: Orders

    private func poll(_ start: Order, until wanted: Set<String>, retryAfter: Duration?, backoff initial: Backoff = Backoff(),
                      deadline: ContinuousClock.Instant) async throws -> Order {
        var order = start
        var backoff = initial
        var serverDelay = retryAfter
        while !wanted.contains(order.status) {
            switch order.status {
            case "pending", "ready", "processing":
                try await sleepBeforePoll(&backoff, retryAfter: serverDelay, deadline: deadline, what: "order \(order.url)")
                (order, serverDelay) = try await client.order(credentials, url: order.url)
            default:
                throw ACMEError(.validationFailed, "order \(order.url) became \(order.status): \(order.error?.summary ?? "no reason given")",
                                problem: order.error)
            }
        }
        return order
    }

    private func sleepBeforePoll(_ backoff: inout Backoff, retryAfter: Duration?, deadline: ContinuousClock.Instant, what: String) async throws {
        let delay = backoff.delay(retryAfter: retryAfter)
        guard ContinuousClock.now + delay < deadline else {
            throw ACMEError(.timeout, "gave up waiting for \(what) after \(timeout); the CA may be slow, try again later")
        }
        try await Task.sleep(for: delay)
    }

    // MARK: Chains

    private func chooseChain(_ url: String, preferredIssuer: String?) async throws -> String {
        let main = try await client.downloadCertificate(credentials, url: url)
        guard let preferredIssuer else { return main.pem }
        if topIssuer(main.pem) == preferredIssuer { return main.pem }
        for alternate in main.alternates {
            let chain = try await client.downloadCertificate(credentials, url: alternate)
            if topIssuer(chain.pem) == preferredIssuer {
                progress("using the alternate chain issued by \(preferredIssuer)")
                return chain.pem
            }
        }
        progress("no chain issued by \(preferredIssuer) offered; using the default chain")
        return main.pem
    }

    /// Issuer common name of the certificate closest to the root (what certbot's --preferred-chain matches).
    private func topIssuer(_ pem: String) -> String? {
        // An unparsable alternate chain simply does not match --preferred-chain.
        (try? Certificate.chain(pem: pem))?.last?.issuerCommonName
    }
}
