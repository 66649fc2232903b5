import ACMECrypto
import Base

/// One certificate order from `newOrder` to the downloaded chain (RFC 8555 §7.4):
/// authorizations, challenges answered together and polled together, finalize,
/// polling while the CA processes, download and choice of an alternate chain.
public struct OrderFlow: Sendable {
    public var client: ACMEClient
    public var credentials: AccountCredentials
    public var solver: any ChallengeSolver
    /// One human line per step, for the CLI's progress output.
    public var progress: EventSink
    /// How long validation and issuance may take before we give up.
    public var timeout: Duration = .seconds(300)

    public init(client: ACMEClient, credentials: AccountCredentials, solver: any ChallengeSolver,
                progress: @escaping EventSink) {
        self.client = client
        self.credentials = credentials
        self.solver = solver
        self.progress = progress
    }

    public struct Result: Sendable {
        /// The chosen chain: leaf first.
        public var chainPEM: String
        public var orderURL: String
        /// Names the CA validated for this order; 0 when it reused valid authorizations.
        public var validatedNames = 0
    }

    /// Runs the order for `names` and returns the certificate chain for `csr`.
    /// `preferredChain` is an issuer common name matched against the top certificate of each offered chain.
    /// `replaces` is the ARI id of the certificate this one renews (RFC 9773 §5).
    public func run(names: [String], csr: [UInt8], profile: String? = nil, replaces: String? = nil,
                    preferredChain: String? = nil) async throws -> Result {
        let deadline = ContinuousClock.now + timeout
        // The client's retries of a CA in maintenance wait within this order's deadline too.
        return try await ACMEClient.$runDeadline.withValue(deadline) {
            try await obtain(names: names, csr: csr, profile: profile, replaces: replaces,
                             preferredChain: preferredChain, deadline: deadline)
        }
    }

    private func obtain(names: [String], csr: [UInt8], profile: String?, replaces: String?,
                        preferredChain: String?, deadline: ContinuousClock.Instant) async throws -> Result {
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
        var validated = 0
        if order.status == "pending" {
            validated = try await authorize(order, deadline: deadline)
        } else if order.status == "ready" {
            progress("every name already authorized (the order is ready)")
        }
        progress("finalizing")
        var retryAfter: Duration?
        do {
            (order, retryAfter) = try await client.finalize(credentials, order: order, csr: csr)
        } catch let error as ACMEError where error.problem?.shortType == "orderNotReady" {
            // Some CAs move the order to "ready" a moment after the last authorization.
            order = try await poll(order, while: ["pending", "processing"], retryAfter: nil, backoff: .imminent,
                                   deadline: deadline, what: "order \(order.url)")
            guard order.status == "ready" else { throw unexpected(order) }
            (order, retryAfter) = try await client.finalize(credentials, order: order, csr: csr)
        }
        // Issuance after a finalize usually takes milliseconds to a second: start polling early
        // (the CA's Retry-After, when it sends one, still decides).
        order = try await poll(order, while: ["ready", "processing"], retryAfter: retryAfter, backoff: .imminent,
                               deadline: deadline, what: "order \(order.url)")
        guard order.status == "valid" else { throw unexpected(order) }
        guard let certificateURL = order.certificate else {
            throw ACMEError(.malformedResponse, "order \(order.url) is valid but names no certificate URL")
        }
        let chain = try await chooseChain(certificateURL, preferredIssuer: preferredChain)
        return Result(chainPEM: chain, orderURL: order.url, validatedNames: validated)
    }

    // MARK: Authorizations

    /// Returns how many names needed validation (0: every authorization was already valid).
    private func authorize(_ order: Order, deadline: ContinuousClock.Instant) async throws -> Int {
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
                    throw ACMEError(.usage, "the CA offers no \(solver.challengeType) challenge for \(authz.displayName.escapedForDisplay) (it offers: \(offered.excerpt(200)))")
                }
                guard challenge.token != nil else {
                    throw ACMEError(.malformedResponse, "\(challenge.type.excerpt()) challenge for \(authz.displayName.escapedForDisplay) has no token")
                }
                pending.append((authz, challenge))
            default:
                throw ACMEError(.validationFailed, "authorization for \(authz.displayName.escapedForDisplay) is \(authz.status.excerpt()): \(failureReason(authz))")
            }
        }
        guard !pending.isEmpty else {
            progress(total == 1 ? "the name is already authorized" : "all \(total) names already authorized")
            return 0
        }

        let thumbprint = credentials.key.publicJWK.thumbprint
        await solver.willPresent(count: pending.count)
        // RFC 8555 §8.1: keyAuthorization = token || '.' || base64url(Thumbprint(accountKey))
        let (presented, failure) = await present(pending.map { item in
            let token = item.challenge.token ?? ""
            return (PresentedChallenge(identifier: item.authz.identifier.value, token: token), token + "." + thumbprint)
        })
        do {
            if let failure { throw failure }
            try await solver.awaitPublished()
            progress("validating \(pending.count) name\(pending.count == 1 ? "" : "s") with \(solver.challengeType)")
            // Every challenge is triggered before any is polled: the CA validates them side by side.
            for (_, challenge) in pending where challenge.status == "pending" {
                _ = try await client.respond(credentials, to: challenge)
            }
            // When the solver sees the CA fetch every challenge, validation is nearly
            // done: poll soon. Otherwise start fine and slow down as time passes.
            let fetched = await solver.waitForFetch(presented, limit: .seconds(5))
            try await awaitValidation(order, of: pending.map(\.authz), backoff: fetched ? .imminent : .validation, deadline: deadline)
        } catch {
            await cleanup(presented)
            throw error
        }
        await cleanup(presented)
        return pending.count
    }

    /// Presents every challenge: one after the other, or side by side where the solver allows it.
    /// Returns what was presented (in the order given) and the first failure, so that exactly
    /// what was presented is cleaned up.
    private func present(_ items: [(challenge: PresentedChallenge, keyAuthorization: String)]) async
        -> (presented: [PresentedChallenge], failure: (any Error)?) {
        guard solver.presentsConcurrently, items.count > 1 else {
            var presented: [PresentedChallenge] = []
            for (challenge, keyAuthorization) in items {
                do {
                    try await solver.present(identifier: challenge.identifier, token: challenge.token, keyAuthorization: keyAuthorization)
                } catch {
                    return (presented, error)
                }
                presented.append(challenge)
            }
            return (presented, nil)
        }
        let solver = self.solver
        return await withTaskGroup(of: (PresentedChallenge, (any Error)?).self) { group in
            for (challenge, keyAuthorization) in items {
                group.addTask {
                    do {
                        try await solver.present(identifier: challenge.identifier, token: challenge.token, keyAuthorization: keyAuthorization)
                        return (challenge, nil)
                    } catch {
                        return (challenge, error)
                    }
                }
            }
            var done: Set<PresentedChallenge> = []
            var failure: (any Error)?
            for await (challenge, error) in group {
                if let error { failure = failure ?? error } else { done.insert(challenge) }
            }
            return (items.map(\.challenge).filter(done.contains), failure)
        }
    }

    private func cleanup(_ presented: [PresentedChallenge]) async {
        guard solver.presentsConcurrently else {
            for challenge in presented { await solver.cleanup(identifier: challenge.identifier, token: challenge.token) }
            return
        }
        let solver = self.solver
        await withTaskGroup(of: Void.self) { group in
            for challenge in presented {
                group.addTask { await solver.cleanup(identifier: challenge.identifier, token: challenge.token) }
            }
        }
    }

    /// Polls the order, one request a round whatever the number of names, until it leaves
    /// `pending` (RFC 8555 §7.1.6): `ready` once every authorization is valid, `invalid` as soon
    /// as one fails. Only then are authorizations fetched, to say which one failed and why.
    private func awaitValidation(_ order: Order, of authorizations: [Authorization], backoff: Backoff,
                                 deadline: ContinuousClock.Instant) async throws {
        let names = authorizations.map(\.displayName.escapedForDisplay).joined(separator: ", ")
        let current = try await poll(order, while: ["pending"], retryAfter: nil, backoff: backoff, deadline: deadline,
                                     what: "validation of " + names.excerpt(300))
        switch current.status {
        case "ready", "processing", "valid":
            progress("validated \(authorizations.count) name\(authorizations.count == 1 ? "" : "s")")
        case "invalid":
            throw try await validationFailure(current, authorizations)
        default:
            throw unexpected(current)
        }
    }

    /// The error for an order that became invalid: every authorization that failed with the
    /// CA's reason from its challenge (RFC 8555 §7.1.4, §7.5.1), else the order's own error.
    private func validationFailure(_ order: Order, _ authorizations: [Authorization]) async throws -> ACMEError {
        var failed: [Authorization] = []
        for authz in authorizations {
            let (current, _) = try await client.authorization(credentials, url: authz.url)
            if current.status != "valid" && current.status != "pending" { failed.append(current) }
        }
        guard let first = failed.first else {
            return ACMEError(.validationFailed, "order \(order.url) became invalid: \(order.error?.summary ?? "no reason given")", problem: order.error)
        }
        var lines = failed.prefix(3).map { "validation of \($0.displayName.escapedForDisplay) failed: \(failureReason($0))" }
        if failed.count > 3 { lines.append("\(failed.count - 3) more names failed") }
        return ACMEError(.validationFailed, lines.joined(separator: "; "), problem: first.challenges.compactMap(\.error).first ?? order.error)
    }

    private func failureReason(_ authz: Authorization) -> String {
        if let problem = authz.challenges.compactMap(\.error).first { return problem.summary }
        return "status \(authz.status.excerpt()), no error given by the CA"
    }

    // MARK: Orders

    /// Polls the order while its status is one of `waiting`, honouring the CA's Retry-After,
    /// and returns it in the first other state.
    private func poll(_ start: Order, while waiting: Set<String>, retryAfter: Duration?, backoff initial: Backoff,
                      deadline: ContinuousClock.Instant, what: String) async throws -> Order {
        var order = start
        var backoff = initial
        var serverDelay = retryAfter
        while waiting.contains(order.status) {
            try await sleepBeforePoll(&backoff, retryAfter: serverDelay, deadline: deadline, what: what)
            (order, serverDelay) = try await client.order(credentials, url: order.url)
        }
        return order
    }

    private func unexpected(_ order: Order) -> ACMEError {
        ACMEError(.validationFailed, "order \(order.url) became \(order.status.excerpt()): \(order.error?.summary ?? "no reason given")",
                  problem: order.error)
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
