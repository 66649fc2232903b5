import Base

/// An RFC 7807 problem document as ACME uses it (RFC 8555 §6.7), with subproblems (§6.7.1).
public struct Problem: Sendable, Decodable, Equatable {
    public struct Subproblem: Sendable, Decodable, Equatable {
        public var type: String?
        public var detail: String?
        public var identifier: Identifier?

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: Problem.CodingKeys.self)
            type = c.lenient(String.self, forKey: .type)
            detail = c.lenient(String.self, forKey: .detail)
            identifier = c.lenient(Identifier.self, forKey: .identifier)
        }
    }

    enum CodingKeys: String, CodingKey { case type, detail, status, identifier, subproblems }

    /// Every field is optional and read only when of the expected type (a `status` sent as text,
    /// a subproblem of another shape), so that a CA's odd problem document is still reported.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        type = c.lenient(String.self, forKey: .type)
        detail = c.lenient(String.self, forKey: .detail)
        status = c.lenient(Int.self, forKey: .status)
        identifier = c.lenient(Identifier.self, forKey: .identifier)
        subproblems = c.lenient([Readable<Subproblem>].self, forKey: .subproblems)?.compactMap(\.value)
    }

    public var type: String?
    public var detail: String?
    public var status: Int?
    public var identifier: Identifier?
    public var subproblems: [Subproblem]?

    /// The ACME error name without the `urn:ietf:params:acme:error:` prefix (`badNonce`, `rateLimited`, ...).
    public var shortType: String {
        guard let type else { return "unknown" }
        let prefix = "urn:ietf:params:acme:error:"
        return type.hasPrefix(prefix) ? String(type.dropFirst(prefix.count)) : type
    }

    /// One line: type, detail, identifier, then (up to ten) subproblems in brackets.
    public var summary: String {
        var line = shortType
        if let identifier { line += " for \(identifier.value)" }
        if let detail, !detail.isEmpty { line += ": \(detail)" }
        let subs = (subproblems ?? []).map { sub -> String in
            var s = ""
            if let id = sub.identifier { s += "\(id.value): " }
            let t = sub.type.map { $0.replacing("urn:ietf:params:acme:error:", with: "") } ?? "error"
            s += t
            if let d = sub.detail, !d.isEmpty { s += " (\(d))" }
            return s
        }
        if !subs.isEmpty { line += " [" + subs.prefix(10).joined(separator: "; ") + (subs.count > 10 ? "; …" : "") + "]" }
        // The CA's text, so escaped and at most 1,000 characters in a message.
        return line.excerpt(1000)
    }

    static func parse(_ body: [UInt8]) -> Problem? {
        // Not a problem document: the caller reports the HTTP status and a snippet instead.
        guard !body.isEmpty, let p = try? JSONDecoder().decode(Problem.self, from: Data(body)),
              p.type != nil || p.detail != nil else { return nil }
        return p
    }
}
