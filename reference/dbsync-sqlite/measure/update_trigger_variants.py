"""Where the update trigger's time goes (docs/benchmarks.md, capture overhead):
50,000 updates of two of three columns in one transaction, under triggers that
write the same oplog row with and without the changed-columns expression of
reference/dbsync-sqlite/src/changed_columns.rs. Python's sqlite3; medians of 5.

    python3 reference/dbsync-sqlite/measure/update_trigger_variants.py
"""
import os, sqlite3, statistics, tempfile, time
N=50000
def run(trigger_cols):
    p=os.path.join(tempfile.mkdtemp(), "trig.db")
    c=sqlite3.connect(p, isolation_level=None)
    c.executescript("""
    PRAGMA journal_mode=WAL;
    CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, price REAL, n INTEGER);
    CREATE TABLE log (seq INTEGER PRIMARY KEY AUTOINCREMENT, table_id INTEGER NOT NULL, row_id NOT NULL, command INTEGER NOT NULL, version INTEGER, columns TEXT);
    """)
    if trigger_cols is not None:
        c.execute(f"CREATE TRIGGER tu AFTER UPDATE ON t BEGIN INSERT INTO log (table_id,row_id,command,columns) VALUES (1, NEW.id, 2, {trigger_cols}); END")
    c.execute("BEGIN"); c.executemany("INSERT INTO t VALUES (?,?,?,?)", [(i,'n%d'%i,1.5,i) for i in range(N)]); c.execute("COMMIT")
    times=[]
    for r in range(5):
        t0=time.perf_counter()
        c.execute("BEGIN")
        c.executemany("UPDATE t SET name=?, price=? WHERE id=?", [('x%d_%d'%(i,r), 2.5+r, i) for i in range(N)])
        c.execute("COMMIT")
        times.append(time.perf_counter()-t0)
    c.close()
    return statistics.median(times)
cols=['name','n','price']
case=" || ".join(f"CASE WHEN OLD.\"{n}\" IS NOT NEW.\"{n}\" THEN '\"{n}\",' ELSE '' END" for n in cols)
expr=f"'[' || rtrim({case}, ',') || ']'"
variants={
 'untracked': None,
 'three integers (before)': 'NULL',
 'constant text of the same length': "'[\"name\",\"price\"]'",
 'OLD/NEW compared, no text': "(OLD.name IS NOT NEW.name) + (OLD.n IS NOT NEW.n) + (OLD.price IS NOT NEW.price)",
 'changed columns (this commit)': expr,
}
res={k:run(v) for k,v in variants.items()}
base=res['untracked']
for k,v in res.items(): print(f"{k:38s} {v*1000:7.1f} ms  ratio {base/v:.2f}")
