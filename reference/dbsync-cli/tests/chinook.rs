//! The Chinook sample database's schema as published (keys declared as
//! `CONSTRAINT … PRIMARY KEY ([Id])` over plain `INTEGER` columns,
//! `NVARCHAR`, `NUMERIC(10,2)` prices, `DATETIME`, a self-reference),
//! every table but the composite-key join table `PlaylistTrack`, tracked
//! unchanged and synced through the CLI between two nodes and a
//! `dbsync serve`, with Python's `sqlite3` as the application: offline
//! conflicts (an update of one row on both nodes, an insert of the same new
//! key on both), a key SQLite reuses (spec §2.2.1), and convergence.

use std::path::Path;
use std::process::Stdio;

mod support {
    pub mod app_rows;
    pub mod run;
    pub mod serving;
}
use support::app_rows::{app, conflicts, every_row, sync, track_and_register};
use support::run::{ok, BIN};
use support::serving::serve;

/// Chinook_Sqlite.sql's tables and indexes, as published (data left out).
const CHINOOK: &str = "
CREATE TABLE [Album] ([AlbumId] INTEGER NOT NULL, [Title] NVARCHAR(160) NOT NULL, [ArtistId] INTEGER NOT NULL,
  CONSTRAINT [PK_Album] PRIMARY KEY ([AlbumId]),
  FOREIGN KEY ([ArtistId]) REFERENCES [Artist] ([ArtistId]) ON DELETE NO ACTION ON UPDATE NO ACTION);
CREATE TABLE [Artist] ([ArtistId] INTEGER NOT NULL, [Name] NVARCHAR(120),
  CONSTRAINT [PK_Artist] PRIMARY KEY ([ArtistId]));
CREATE TABLE [Customer] ([CustomerId] INTEGER NOT NULL, [FirstName] NVARCHAR(40) NOT NULL,
  [LastName] NVARCHAR(20) NOT NULL, [Company] NVARCHAR(80), [Address] NVARCHAR(70), [City] NVARCHAR(40),
  [State] NVARCHAR(40), [Country] NVARCHAR(40), [PostalCode] NVARCHAR(10), [Phone] NVARCHAR(24),
  [Fax] NVARCHAR(24), [Email] NVARCHAR(60) NOT NULL, [SupportRepId] INTEGER,
  CONSTRAINT [PK_Customer] PRIMARY KEY ([CustomerId]),
  FOREIGN KEY ([SupportRepId]) REFERENCES [Employee] ([EmployeeId]) ON DELETE NO ACTION ON UPDATE NO ACTION);
CREATE TABLE [Employee] ([EmployeeId] INTEGER NOT NULL, [LastName] NVARCHAR(20) NOT NULL,
  [FirstName] NVARCHAR(20) NOT NULL, [Title] NVARCHAR(30), [ReportsTo] INTEGER, [BirthDate] DATETIME,
  [HireDate] DATETIME, [Address] NVARCHAR(70), [City] NVARCHAR(40), [State] NVARCHAR(40),
  [Country] NVARCHAR(40), [PostalCode] NVARCHAR(10), [Phone] NVARCHAR(24), [Fax] NVARCHAR(24),
  [Email] NVARCHAR(60),
  CONSTRAINT [PK_Employee] PRIMARY KEY ([EmployeeId]),
  FOREIGN KEY ([ReportsTo]) REFERENCES [Employee] ([EmployeeId]) ON DELETE NO ACTION ON UPDATE NO ACTION);
CREATE TABLE [Genre] ([GenreId] INTEGER NOT NULL, [Name] NVARCHAR(120),
  CONSTRAINT [PK_Genre] PRIMARY KEY ([GenreId]));
CREATE TABLE [Invoice] ([InvoiceId] INTEGER NOT NULL, [CustomerId] INTEGER NOT NULL,
  [InvoiceDate] DATETIME NOT NULL, [BillingAddress] NVARCHAR(70), [BillingCity] NVARCHAR(40),
  [BillingState] NVARCHAR(40), [BillingCountry] NVARCHAR(40), [BillingPostalCode] NVARCHAR(10),
  [Total] NUMERIC(10,2) NOT NULL,
  CONSTRAINT [PK_Invoice] PRIMARY KEY ([InvoiceId]),
  FOREIGN KEY ([CustomerId]) REFERENCES [Customer] ([CustomerId]) ON DELETE NO ACTION ON UPDATE NO ACTION);
CREATE TABLE [InvoiceLine] ([InvoiceLineId] INTEGER NOT NULL, [InvoiceId] INTEGER NOT NULL,
  [TrackId] INTEGER NOT NULL, [UnitPrice] NUMERIC(10,2) NOT NULL, [Quantity] INTEGER NOT NULL,
  CONSTRAINT [PK_InvoiceLine] PRIMARY KEY ([InvoiceLineId]),
  FOREIGN KEY ([InvoiceId]) REFERENCES [Invoice] ([InvoiceId]) ON DELETE NO ACTION ON UPDATE NO ACTION,
  FOREIGN KEY ([TrackId]) REFERENCES [Track] ([TrackId]) ON DELETE NO ACTION ON UPDATE NO ACTION);
CREATE TABLE [MediaType] ([MediaTypeId] INTEGER NOT NULL, [Name] NVARCHAR(120),
  CONSTRAINT [PK_MediaType] PRIMARY KEY ([MediaTypeId]));
CREATE TABLE [Playlist] ([PlaylistId] INTEGER NOT NULL, [Name] NVARCHAR(120),
  CONSTRAINT [PK_Playlist] PRIMARY KEY ([PlaylistId]));
CREATE TABLE [PlaylistTrack] ([PlaylistId] INTEGER NOT NULL, [TrackId] INTEGER NOT NULL,
  CONSTRAINT [PK_PlaylistTrack] PRIMARY KEY ([PlaylistId], [TrackId]),
  FOREIGN KEY ([PlaylistId]) REFERENCES [Playlist] ([PlaylistId]) ON DELETE NO ACTION ON UPDATE NO ACTION,
  FOREIGN KEY ([TrackId]) REFERENCES [Track] ([TrackId]) ON DELETE NO ACTION ON UPDATE NO ACTION);
CREATE TABLE [Track] ([TrackId] INTEGER NOT NULL, [Name] NVARCHAR(200) NOT NULL, [AlbumId] INTEGER,
  [MediaTypeId] INTEGER NOT NULL, [GenreId] INTEGER, [Composer] NVARCHAR(220),
  [Milliseconds] INTEGER NOT NULL, [Bytes] INTEGER, [UnitPrice] NUMERIC(10,2) NOT NULL,
  CONSTRAINT [PK_Track] PRIMARY KEY ([TrackId]),
  FOREIGN KEY ([AlbumId]) REFERENCES [Album] ([AlbumId]) ON DELETE NO ACTION ON UPDATE NO ACTION,
  FOREIGN KEY ([GenreId]) REFERENCES [Genre] ([GenreId]) ON DELETE NO ACTION ON UPDATE NO ACTION,
  FOREIGN KEY ([MediaTypeId]) REFERENCES [MediaType] ([MediaTypeId]) ON DELETE NO ACTION ON UPDATE NO ACTION);
CREATE INDEX [IFK_AlbumArtistId] ON [Album] ([ArtistId]);
CREATE INDEX [IFK_CustomerSupportRepId] ON [Customer] ([SupportRepId]);
CREATE INDEX [IFK_EmployeeReportsTo] ON [Employee] ([ReportsTo]);
CREATE INDEX [IFK_InvoiceCustomerId] ON [Invoice] ([CustomerId]);
CREATE INDEX [IFK_InvoiceLineInvoiceId] ON [InvoiceLine] ([InvoiceId]);
CREATE INDEX [IFK_InvoiceLineTrackId] ON [InvoiceLine] ([TrackId]);
CREATE INDEX [IFK_PlaylistTrackPlaylistId] ON [PlaylistTrack] ([PlaylistId]);
CREATE INDEX [IFK_PlaylistTrackTrackId] ON [PlaylistTrack] ([TrackId]);
CREATE INDEX [IFK_TrackAlbumId] ON [Track] ([AlbumId]);
CREATE INDEX [IFK_TrackGenreId] ON [Track] ([GenreId]);
CREATE INDEX [IFK_TrackMediaTypeId] ON [Track] ([MediaTypeId]);
";

/// Every table but the composite-key join table, parents first.
const SYNCED: [&str; 10] = [
    "Artist",
    "Album",
    "Genre",
    "MediaType",
    "Playlist",
    "Track",
    "Employee",
    "Customer",
    "Invoice",
    "InvoiceLine",
];

/// A few rows of each synced table, in the published data's formats.
const ROWS: &str = "
INSERT INTO Artist (Name) VALUES ('AC/DC'), ('Accept'), ('Aerosmith');
INSERT INTO Album (Title, ArtistId) VALUES ('For Those About To Rock We Salute You', 1),
  ('Balls to the Wall', 2), ('Restless and Wild', 2);
INSERT INTO Genre (Name) VALUES ('Rock'), ('Jazz');
INSERT INTO MediaType (Name) VALUES ('MPEG audio file'), ('Protected AAC audio file');
INSERT INTO Playlist (Name) VALUES ('Music');
INSERT INTO Track (Name, AlbumId, MediaTypeId, GenreId, Composer, Milliseconds, Bytes, UnitPrice) VALUES
  ('For Those About To Rock (We Salute You)', 1, 1, 1, 'Angus Young, Malcolm Young, Brian Johnson', 343719, 11170334, 0.99),
  ('Balls to the Wall', 2, 2, 1, NULL, 342562, 5510424, 0.99),
  ('Fast As a Shark', 3, 2, 1, 'F. Baltes, S. Kaufman, U. Dirkscneider & W. Hoffman', 230619, 3990994, 0.99);
INSERT INTO Employee (LastName, FirstName, Title, ReportsTo, BirthDate, HireDate, City, Country, Email) VALUES
  ('Adams', 'Andrew', 'General Manager', NULL, '1962-02-18 00:00:00', '2002-08-14 00:00:00', 'Edmonton', 'Canada', 'andrew@chinookcorp.com'),
  ('Edwards', 'Nancy', 'Sales Manager', 1, '1958-12-08 00:00:00', '2002-05-01 00:00:00', 'Calgary', 'Canada', 'nancy@chinookcorp.com');
INSERT INTO Customer (FirstName, LastName, Company, City, Country, Email, SupportRepId) VALUES
  ('Luís', 'Gonçalves', 'Embraer', 'São José dos Campos', 'Brazil', 'luisg@embraer.com.br', 2),
  ('Leonie', 'Köhler', NULL, 'Stuttgart', 'Germany', 'leonekohler@surfeu.de', 2);
INSERT INTO Invoice (CustomerId, InvoiceDate, BillingCity, BillingCountry, Total) VALUES
  (2, '2009-01-01 00:00:00', 'Stuttgart', 'Germany', 1.98), (1, '2009-01-02 00:00:00', 'São José dos Campos', 'Brazil', 0.99);
INSERT INTO InvoiceLine (InvoiceId, TrackId, UnitPrice, Quantity) VALUES (1, 1, 0.99, 1), (1, 2, 0.99, 1), (2, 3, 0.99, 1);
";

/// A node database: the application makes the schema (and `rows`), then
/// `dbsync track` (unchanged tables) and `register`.
fn node(dir: &Path, name: &str, url: &str, rows: &str) -> std::path::PathBuf {
    let db = dir.join(name);
    app(&db, &format!("{CHINOOK}{rows}"));
    track_and_register(&db, &SYNCED, !rows.is_empty(), url);
    db
}

#[test]
fn the_published_chinook_schema_syncs_unchanged_between_two_nodes_with_offline_conflicts() {
    let dir = tempfile::tempdir().unwrap();
    let server_db = dir.path().join("server.db");
    app(&server_db, CHINOOK);
    let tables = SYNCED.join(",");
    let server = serve(
        BIN,
        server_db.to_str().unwrap(),
        &["--registration-token", "sesame", "--tables", &tables],
        Stdio::null(),
    );
    let a = node(dir.path(), "a.db", &server.url, ROWS);
    sync(&a);
    let b = node(dir.path(), "b.db", &server.url, "");
    sync(&b);
    assert_eq!(rows_of(&b), rows_of(&a), "b pulled a's rows");

    // Offline: both edit track 1, a its price and b its name, and both
    // its composer; both add an artist, which SQLite gives key 4 on both
    // nodes; a replaces its last invoice line, which SQLite gives the
    // deleted line's key 3 again.
    app(&a, "UPDATE Track SET UnitPrice = 1.29, Composer = 'AC/DC' WHERE TrackId = 1;
             INSERT INTO Artist (Name) VALUES ('Alanis Morissette');
             DELETE FROM InvoiceLine WHERE InvoiceLineId = 3;
             INSERT INTO InvoiceLine (InvoiceId, TrackId, UnitPrice, Quantity) VALUES (2, 2, 0.99, 2);");
    app(
        &b,
        "UPDATE Track SET Name = 'For Those About To Rock', Composer = 'Young' WHERE TrackId = 1;
             INSERT INTO Artist (Name) VALUES ('Alice In Chains');
             INSERT INTO Album (Title, ArtistId) VALUES ('Facelift', 4);",
    );
    sync(&a);
    sync(&b);
    sync(&a);

    let on_server = rows_of(&server_db);
    assert_eq!(rows_of(&a), on_server);
    assert_eq!(rows_of(&b), on_server);
    let a_log = conflicts(&a);
    assert!(a_log.contains("reused_key_moved"), "{a_log}");
    let b_log = conflicts(&b);
    assert!(b_log.contains("local_insert_rekeyed"), "{b_log}");
    // Only the composer, which both changed, went to the policy
    // (spec §12.4.4): b synced last with node_wins, and a's lost.
    let kept: Vec<serde_json::Value> = serde_json::from_str::<Vec<serde_json::Value>>(&b_log)
        .unwrap()
        .into_iter()
        .filter(|e| e["entry"]["rule"] == "local_update_kept")
        .collect();
    assert_eq!(kept.len(), 1, "{b_log}");
    assert_eq!(
        kept[0]["entry"]["lost"],
        serde_json::json!({"Composer": "AC/DC"})
    );
    let joined = on_server.join("\n");
    for expected in [
        // Each node's column survived: b's name, a's price; the composer
        // both changed is b's.
        "Track: 1, 'For Those About To Rock', 1, 1, 1, 'Young', 343719, 11170334, 1.29",
        "Artist: 4, 'Alanis Morissette'",
        "Artist: 5, 'Alice In Chains'",
        // b's album followed its artist to key 5.
        "Album: 4, 'Facelift', 5",
        // a's new invoice line left key 3 to the deleted one.
        "InvoiceLine: 4, 2, 2, 0.99, 2",
    ] {
        assert!(joined.contains(expected), "{expected} in\n{joined}");
    }
    assert!(!joined.contains("InvoiceLine: 3,"), "{joined}");
}

#[test]
fn check_names_only_the_composite_key_join_table_of_the_published_chinook_schema() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("chinook.db");
    app(&db, CHINOOK);
    let path = db.to_str().unwrap();
    let out = support::run::dbsync(&["check", "--db", path, "--json"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err: serde_json::Value =
        serde_json::from_slice(out.stderr.split(|b| *b == b'\n').next().unwrap()).unwrap();
    assert_eq!(err["error"]["code"], "table_refused");
    assert_eq!(
        err["error"]["details"]["tables"],
        serde_json::json!(["PlaylistTrack"])
    );
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("give it a single `id INTEGER PRIMARY KEY`"),
        "{err}"
    );
    let tables = SYNCED.join(",");
    let fine = ok(&["check", "--db", path, "--tables", &tables]);
    assert_eq!(
        fine.matches("can sync as it is:").count(),
        SYNCED.len(),
        "{fine}"
    );
    let tracked: i64 = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row(
            "SELECT count(*) FROM sqlite_schema WHERE name LIKE 'dbsync%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(tracked, 0, "check writes nothing");
}

/// Every synced row of `db`.
fn rows_of(db: &Path) -> Vec<String> {
    every_row(db, &SYNCED)
}
