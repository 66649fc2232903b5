extension DaemonStatus {
    /// What the daemon does next for a lineage, as the status file and `acme status --json` spell
    /// it (`nextAction`). A value this version does not know (a newer daemon's file) is kept as
    /// `.other`, read and written back unchanged, as the plain string it used to be.
    public enum NextAction: Sendable, Hashable, Codable, RawRepresentable, CustomStringConvertible {
        /// `renew`: renew at `nextActionAt` (the renewal window, or the calm period after a renewal).
        case renew
        /// `ask-ari`: ask the CA's renewal information again (its Retry-After).
        case askARI
        /// `retry`: retry after a failure, with backoff.
        case retry
        /// `dane`: a DANE rollover step (an old record to remove, a new one to see published).
        case dane
        /// `dane-wait`: a renewal held by the DANE rollover until the new record is visible.
        case daneWait
        case other(String)

        public init(rawValue: String) {
            switch rawValue {
            case "renew": self = .renew
            case "ask-ari": self = .askARI
            case "retry": self = .retry
            case "dane": self = .dane
            case "dane-wait": self = .daneWait
            default: self = .other(rawValue)
            }
        }

        public var rawValue: String {
            switch self {
            case .renew: "renew"
            case .askARI: "ask-ari"
            case .retry: "retry"
            case .dane: "dane"
            case .daneWait: "dane-wait"
            case .other(let value): value
            }
        }

        /// A step of a DANE rollover (`dane`, `dane-wait`): it does not wait for the calm period.
        public var isDANE: Bool { self == .dane || self == .daneWait }

        public var description: String { rawValue }

        public init(from decoder: any Decoder) throws {
            self.init(rawValue: try decoder.singleValueContainer().decode(String.self))
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            try container.encode(rawValue)
        }
    }
}
