import ArgumentParser
import Base

@main
struct ACMECommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "acme",
        abstract: "An ACME (RFC 8555) client for mail servers, compatible with certbot's /etc/letsencrypt.",
        version: acmeVersion,
        subcommands: [Issue.self, Renew.self, Certificates.self, Revoke.self, Delete.self, AccountCommand.self, ProvisionCommand.self, DaemonCommand.self, StatusCommand.self, StoreCommand.self, RespondCommand.self, CheckCommand.self, SelfSigned.self, TLSA.self]
    )

    /// SIGPIPE turned into EPIPE before any command runs, then ArgumentParser's parse-and-run.
    static func main() async {
        LocalSystem.ignoreBrokenPipes()
        await main(nil)
    }
}
