/// The one error type of the ACME module: a kind for callers that branch on it and
/// a one-line message for the user that names the URL, identifier or problem involved.
public struct ACMEError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable, Equatable {
        /// The server answered with an RFC 7807 problem document.
        case problem
        /// The server's answer does not follow RFC 8555.
        case malformedResponse
        /// Something the user must change (missing --agree-tos, EAB, ...).
        case usage
        /// A challenge or order ended invalid.
        case validationFailed
        /// Waited as long as we are willing to.
        case timeout
        /// The server asked us to slow down for longer than we wait.
        case rateLimited
    }

    public var kind: Kind
    public var message: String
    /// The problem document, when the server sent one.
    public var problem: Problem?

    public init(_ kind: Kind, _ message: String, problem: Problem? = nil) {
        self.kind = kind
        self.message = message
        self.problem = problem
    }

    public var description: String { message }
}
