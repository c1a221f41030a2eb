//! `cargo bench --no-default-features`: the same figures as `proxemix bench` (full chain vs plain kira, and
//! fully spoiled stems vs clean ones).

fn main() {
    println!("{:>6} {:>14} {:>14} {:>12}", "stems", "plain kira ×RT", "full chain ×RT", "full ÷ plain");
    proxemix::bench::run(&[8, 16, 64], 30.0, 3, |row| {
        println!("{:>6} {:>14.1} {:>14.1} {:>11.2}×", row.stems, row.plain_rtf, row.full_rtf, row.speed_ratio());
    });
    println!();
    println!("{:>6} {:>14} {:>14} {:>10}", "stems", "clean ×RT", "spoil 1 ×RT", "cost ratio");
    proxemix::bench::run_spoil(&[1, 8], 30.0, 3, |row| {
        println!("{:>6} {:>14.1} {:>14.1} {:>9.2}×", row.stems, row.clean_rtf, row.spoiled_rtf, row.cost_ratio());
    });
}
