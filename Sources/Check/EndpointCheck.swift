import ACMECrypto
import Base
import FoundationEssentials

/// What `acme check` reports about one endpoint.
public struct CheckReport: Sendable, Codable {
    public var endpoint: String
    public var serverName: String
    public var subject: String?
    public var names: [String]
    public var issuer: String?
    public var keyType: String
    public var serial: String
    /// SHA-256 of the certificate's DER, lowercase hex.
    public var sha256: String
    public var notBefore: Date
    public var notAfter: Date
    public var daysLeft: Int
    /// OpenSSL's verdict (0 = ok), the number `openssl s_client` prints as "Verify return code".
    public var verifyCode: Int
    public var verifyMessage: String
    public var verified: Bool
    public var protocolVersion: String
    public var cipher: String
    /// Set when the certificate expires within the `--expires-within` limit.
    public var expiresSoon: Bool
    public var ok: Bool { verified && !expiresSoon }

    /// The readable block `acme check` prints. What comes from the certificate (subject,
    /// names, issuer) is printed with control characters escaped: it cannot add lines or
    /// move the cursor. JSON keeps the raw text, which the encoder escapes.
    public var text: String {
        let verdict = verified ? "ok" : "FAILED: \(verifyMessage) (code \(verifyCode))"
        return """
        \(endpoint) (\(protocolVersion), \(cipher))
          subject:    \(subject?.escapedForDisplay ?? "-")
          names:      \(names.map(\.escapedForDisplay).joined(separator: " "))
          issuer:     \(issuer?.escapedForDisplay ?? "-")
          key:        \(keyType)
          valid:      \(notBefore.utcText) to \(notAfter.utcText)
          days left:  \(daysLeft)\(expiresSoon ? "  EXPIRES SOON" : "")
          verified:   \(verdict) for \(serverName)
        """
    }
}

/// Connects, speaks STARTTLS where the scheme needs it, does the TLS handshake with SNI,
/// verifies the chain and the name, and reads the certificate.
public struct EndpointCheck: Sendable {
    public var serverName: String?
    public var caFile: String?
    /// The deadline for each endpoint's whole exchange: resolving, connecting, the dialog
    /// before TLS and the TLS handshake together (`--timeout`).
    public var timeoutSeconds = 10
    /// Fail when fewer seconds than this are left.
    public var expiresWithin: Double = 0

    /// `--expires-within`: "14d", "36h", "2w", "90m", "45s" or a bare number of days, in seconds.
    public static func seconds(_ text: String) -> Double? {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800]
        if let days = Double(text) { return days * 86_400 }
        guard let unit = text.last.flatMap({ units[$0] }), let amount = Double(text.dropLast()), amount >= 0 else { return nil }
        return amount * unit
    }

    /// Connect as a client without ECDSA would (TLS 1.2, RSA only): what such a client is served.
    public var rsaOnly = false

    public init(serverName: String? = nil, caFile: String? = nil) {
        self.serverName = serverName
        self.caFile = caFile
    }

    /// `run` for async code: the dialog waits on sockets, on a thread of its own.
    public func run(_ endpoint: Endpoint, now: Date = Date()) async throws -> CheckReport {
        try await onOwnThread(throwing: { try self.run(endpoint, now: now) as CheckReport })
    }

    public func run(_ endpoint: Endpoint, now: Date = Date()) throws -> CheckReport {
        try run(endpoint, now: now, deadline: endpointDeadline())
    }

    /// `timeoutSeconds` from now, for one endpoint.
    func endpointDeadline() -> Deadline {
        Deadline(seconds: timeoutSeconds, name: "the \(timeoutSeconds) s \(SettingName.endpointTimeout)")
    }

    /// The certificate the endpoint presents (for DANE: its key), without judging it; bounded by
    /// the same deadline as `run`.
    public func servedLeaf(_ endpoint: Endpoint) throws -> Certificate {
        try handshake(endpoint, deadline: endpointDeadline()).leaf
    }

    /// Connects (STARTTLS where the scheme needs it) and completes the TLS handshake by
    /// `deadline`; the name sent as SNI and verified (nil for an address without --servername),
    /// OpenSSL's result and the leaf the server presented.
    private func handshake(_ endpoint: Endpoint, deadline: Deadline) throws -> (name: String?, result: TLSClientHandshake.Result, leaf: Certificate) {
        let connection = try Connection(endpoint, deadline: deadline)
        if let kind = endpoint.startTLS { try connection.startTLS(kind) }
        // SNI and the name to verify: --servername, else the host unless it is an address.
        let isAddress = endpoint.host.contains(":") || endpoint.host.allSatisfy { $0.isNumber || $0 == "." }
        let name = serverName ?? (isAddress ? nil : endpoint.host)
        let result: TLSClientHandshake.Result
        do {
            result = try TLSClientHandshake.run(fd: connection.fd, serverName: name, verifyName: name, caFile: caFile,
                                                deadline: deadline.instant, rsaOnly: rsaOnly)
        } catch let error as CryptoError where error.description.contains("cannot load") {
            throw error
        } catch {
            if deadline.passed { throw connection.timedOut("during the TLS handshake") }
            throw CheckError(.handshake, "\(endpoint): TLS handshake failed (\(error))")
        }
        guard let leaf = result.chain.first else { throw CheckError(.handshake, "\(endpoint): the server sent no certificate") }
        return (name, result, leaf)
    }

    func run(_ endpoint: Endpoint, now: Date, deadline: Deadline) throws -> CheckReport {
        let (name, result, leaf) = try handshake(endpoint, deadline: deadline)
        let left = leaf.notAfter.timeIntervalSince(now)
        var report = CheckReport(endpoint: endpoint.description, serverName: name ?? endpoint.host, subject: leaf.subjectCommonName,
                                 names: leaf.dnsNames, issuer: leaf.issuerCommonName, keyType: leaf.keyDescription(),
                                 serial: leaf.serialHex, sha256: leaf.fingerprint, notBefore: leaf.notBefore, notAfter: leaf.notAfter,
                                 daysLeft: Int((left / 86_400).rounded(.down)), verifyCode: result.verifyCode,
                                 verifyMessage: result.verifyMessage, verified: result.verifyCode == 0,
                                 protocolVersion: result.protocolVersion, cipher: result.cipher, expiresSoon: false)
        if name == nil {
            report.verified = false
            report.verifyMessage += "; the name was not checked (give \(SettingName.serverName) for an address)"
        }
        report.expiresSoon = left < expiresWithin
        return report
    }
}
