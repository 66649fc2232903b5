/// A setting as a library's message names it ("the ACME server URL"): libraries name settings,
/// never command-line flags; the CLI knows which flag sets which setting and adds it to the line it
/// prints (Sources/acme/SettingFlags.swift).
public struct SettingName: Sendable, Hashable, CustomStringConvertible {
    public let description: String

    public init(_ description: String) { self.description = description }

    /// The CA's ACME directory URL (`--server`, `server =` in a renewal conf).
    public static let acmeServerURL = SettingName("the ACME server URL")
}
