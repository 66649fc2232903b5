/// The one error type of the Issuance module: one line saying what was wrong and what to do.
public struct IssuanceError: Error, CustomStringConvertible, Sendable {
    public var description: String
    /// The user must change the command (a name, a missing flag) rather than retry.
    public var isUsage: Bool
    public init(_ description: String, usage: Bool = false) {
        self.description = description
        self.isUsage = usage
    }
}
