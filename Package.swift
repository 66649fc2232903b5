// swift-tools-version:6.0
import PackageDescription

// Linux only (Debian 12 and alike): the code calls Glibc directly, renameat2(RENAME_EXCHANGE),
// fcntl record locks and Linux socket options. There is no macOS build.
let package = Package(
    name: "acme",
    products: [
        .executable(name: "acme", targets: ["acme"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // System libraries: module map + shim header, nothing else.
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"])]
        ),
        .systemLibrary(
            name: "CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]
        ),
        .systemLibrary(
            name: "CPostgres",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]
        ),

        // renameat2(RENAME_EXCHANGE) and fcntl locks, which Swift cannot call directly.
        .target(name: "CSystem"),
        // File system, subprocesses, locks, host name, paths, text, and the error codes every module uses.
        .target(name: "Base", dependencies: ["CSystem"]),
        // Every OpenSSL call: keys, PEM, JWK, thumbprint, JWS, CSR, X.509.
        .target(name: "ACMECrypto", dependencies: ["COpenSSL", "Base"]),
        // Every libcurl call: one reused handle, CA bundle, timeouts, size caps.
        .target(name: "ACMEHTTP", dependencies: ["CCurl", "Base"]),
        // certbot-compatible /etc/letsencrypt layout.
        .target(name: "CertStore", dependencies: ["CSystem", "Base"]),
        // RFC 8555 protocol over an abstract transport.
        .target(name: "ACME", dependencies: ["ACMECrypto", "ACMEHTTP", "Base"]),
        // DNS messages: queries, TXT and TLSA lookups, RFC 2136 updates signed with TSIG (RFC 8945).
        .target(name: "DNS", dependencies: ["ACMECrypto", "Base"]),
        // Every solver beside its challenge: HTTP-01 responder and webroot, TLS-ALPN-01, DNS-01
        // (hook and RFC 2136) and manual hooks.
        .target(name: "Challenges", dependencies: ["ACME", "ACMECrypto", "DNS", "Base"]),
        // Obtain a certificate: account + order + lineage decisions, the renewal conf codec, hooks;
        // a lineage's key records (DANE) come in through the `KeyRecords` seam.
        .target(name: "Issuance", dependencies: ["ACME", "ACMECrypto", "Challenges", "CertStore", "Base"]),
        // Which lineages are due (ARI, windows); renews through Issuance; asks a `KeyRolloverGate` (DANE's).
        .target(name: "Renewal", dependencies: ["ACME", "ACMECrypto", "CertStore", "Issuance", "Base"]),
        // DANE above Issuance and Renewal: TLSA settings and state, the key rollover (DANEGate for
        // renewals, DANESettings as Issuance's KeyRecords), publishing, acme tlsa and acme tlsa --check.
        .target(name: "DANE", dependencies: ["ACMECrypto", "CertStore", "Challenges", "Check", "DNS", "Issuance", "Renewal", "Base"]),
        // Find, check and install certificates for Postfix and Dovecot (issuing through Issuance when asked).
        .target(name: "Provision", dependencies: ["ACMECrypto", "CertStore", "Issuance", "Base"]),
        // acme check: STARTTLS dialogs and TLS verification of mail endpoints, alert mail.
        .target(name: "Check", dependencies: ["ACMECrypto", "Base"]),
        // Fleet mode: the PostgreSQL store (every libpq call), its schema, advisory locks,
        // LISTEN/NOTIFY, key encryption at rest, import from and export to the certbot layout.
        .target(name: "FleetStore", dependencies: ["CPostgres", "ACMECrypto", "CertStore", "Base"]),
        // Fleet mode on top of the store: every node materializes the store into its certbot layout,
        // renews under the store's per-lineage lock and publishes what it renewed (Node/); any node
        // answers the challenges (Challenges/); the daemon as a fleet node (FleetDaemon, through the
        // Daemon's StoreHooks: Daemon does not depend on Fleet).
        .target(name: "Fleet", dependencies: ["FleetStore", "Challenges", "ACME", "CertStore", "Issuance", "Renewal", "Daemon", "ACMECrypto", "Base"]),
        // acme daemon and acme status: the supervisor loop, backoff, alerts, the status file,
        // verification that the daemons serve what was installed (and rollback).
        .target(name: "Daemon", dependencies: ["ACME", "ACMECrypto", "CertStore", "Issuance", "Renewal", "DANE", "Provision", "Check", "Base"]),
        // The command line: flags in, one library call, output and the exit code out.
        .executableTarget(
            name: "acme",
            dependencies: [
                "Issuance", "Renewal", "DANE", "Check", "ACME", "ACMECrypto", "ACMEHTTP", "CertStore", "Challenges", "Provision", "Daemon", "DNS", "FleetStore", "Fleet", "Base",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // Test helpers more than one test target uses: certbot's renewal confs, loopback clients, a flooder.
        .target(name: "TestFixtures", dependencies: ["Base"], path: "Tests/TestFixtures"),
        .testTarget(name: "BaseTests", dependencies: ["Base"]),
        .testTarget(name: "ACMECryptoTests", dependencies: ["ACMECrypto", "Base", "TestFixtures"]),
        .testTarget(name: "ACMEHTTPTests", dependencies: ["ACMEHTTP", "Base", "TestFixtures"]),
        .testTarget(name: "ChallengesTests", dependencies: ["Challenges", "ACME", "DNS", "Base", "TestFixtures"]),
        .testTarget(name: "DNSTests", dependencies: ["DNS", "ACMECrypto", "Base", "TestFixtures"]),
        .testTarget(name: "CertStoreTests", dependencies: ["CertStore", "Base", "TestFixtures"]),
        .testTarget(name: "IssuanceTests", dependencies: ["Issuance", "ACME", "ACMEHTTP", "CertStore", "ACMECrypto", "Challenges", "Base", "TestFixtures"]),
        .testTarget(name: "ACMETests", dependencies: ["ACME", "ACMECrypto", "ACMEHTTP", "Base", "TestFixtures"]),
        .testTarget(name: "RenewalTests", dependencies: ["Renewal", "ACME", "ACMEHTTP", "CertStore", "Issuance", "Base", "ACMECrypto", "TestFixtures"]),
        .testTarget(name: "DANETests", dependencies: ["DANE", "Issuance", "Renewal", "CertStore", "ACMECrypto", "DNS", "Base", "TestFixtures"]),
        .testTarget(name: "CheckTests", dependencies: ["Check", "Base", "TestFixtures"]),
        .testTarget(name: "DaemonTests", dependencies: ["Daemon", "Check", "Renewal", "ACME", "ACMEHTTP", "ACMECrypto", "CertStore", "Base", "TestFixtures"]),
        .testTarget(name: "FleetTests", dependencies: ["Fleet", "FleetStore", "Challenges", "ACME", "Base", "TestFixtures"]),
        .testTarget(name: "FleetStoreTests", dependencies: ["FleetStore", "CPostgres", "ACMECrypto", "CertStore", "Base", "TestFixtures"]),
        .testTarget(name: "ProvisionTests", dependencies: ["Provision", "ACMECrypto", "Base", "TestFixtures"]),
        .testTarget(name: "IntegrationTests", dependencies: ["ACMECrypto", "CertStore", "DNS", "Base", "TestFixtures"]),
        .testTarget(name: "FuzzTests", dependencies: ["ACMECrypto", "ACMEHTTP", "ACME", "CertStore", "Challenges", "DNS", "Issuance", "Renewal", "DANE", "Provision", "Check", "Base", "TestFixtures"]),
    ]
)
