import ArgumentParser
import Base
import Challenges
import Daemon
import Fleet
import FleetStore
import FoundationEssentials

/// `acme respond`: one node's challenge responder in fleet mode, answering every challenge in
/// the store whichever node placed the order. Runs until SIGTERM or SIGINT.
struct RespondCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "respond",
        abstract: "Answer the fleet's HTTP-01 (and TLS-ALPN-01) challenges from the store on this node, until SIGTERM/SIGINT.",
        discussion: """
        Every node runs it (or the daemon) so that a load balancer may send the CA's request to any node.
        Example: acme respond --store postgresql://acme@db/acme --http-01-port 80 --tls-alpn-01-port 443
        See Docs/FLEET.md, "Challenges".
        """)

    @OptionGroup var store: StoreArguments
    @OptionGroup var responder: ResponderArguments
    @Option(name: .customLong("tls-alpn-01-port"), help: .init("Also answer TLS-ALPN-01 on this port (usually 443).", valueName: "PORT")) var tlsALPNPort: Int?
    @Option(name: .customLong("tls-alpn-01-address"), help: .init("Address the TLS-ALPN-01 responder listens on (default: all).", valueName: "ADDRESS")) var tlsALPNAddress: String?
    @Flag(name: .customLong("no-http-01"), help: "Do not answer HTTP-01 (only with --tls-alpn-01-port).") var noHttp01 = false

    func validate() throws {
        if noHttp01, tlsALPNPort == nil { throw ValidationError("--no-http-01 leaves nothing to answer; add --tls-alpn-01-port PORT") }
        if tlsALPNAddress != nil, tlsALPNPort == nil { throw ValidationError("--tls-alpn-01-address goes with --tls-alpn-01-port") }
    }

    func run() async throws {
        try await ExitStatus.run {
            let storeName = try StoreURL(store.url).redacted
            // The same checks as acme issue's (port ranges, addresses), before anything listens.
            if !noHttp01 { try responder.method().validate() }
            if let tlsALPNPort { try ChallengeMethod(tlsALPNPort: tlsALPNPort, tlsALPNAddress: tlsALPNAddress).validate() }
            let http01 = noHttp01 ? nil : HTTP01Responder(address: responder.http01Address, port: responder.http01Port)
            let tlsALPN01 = try tlsALPNPort.map { try TLSALPN01Responder(address: tlsALPNAddress, port: $0) }
            let fleet = try FleetResponder(storeURL: store.url, keyFile: store.keyFile, http01: http01, tlsALPN01: tlsALPN01,
                                           log: { Output.print(Output.text(of: $0)) })
            try fleet.start()
            let ports = [http01.map { "HTTP-01 on port \($0.port)" }, tlsALPN01.map { "TLS-ALPN-01 on port \($0.port)" }].compactMap { $0 }
            Output.print("answering the fleet's challenges from \(storeName): \(ports.joined(separator: ", "))")
            let wakeUps = WakeUps()
            wakeUps.stopGrace = .seconds(2)
            while true {
                if case .stop = await wakeUps.next(until: Date.distantFuture) { break }
            }
            fleet.stop()
            Output.print("stopped")
        }
    }
}
