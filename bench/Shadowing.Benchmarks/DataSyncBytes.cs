using System.Diagnostics;
using System.Globalization;
using System.Text;
using Shadowing.Core.Data;
using Shadowing.Core.Randomness;
using Shadowing.Core.State;
using Shadowing.Embedded.State;

namespace Shadowing.Benchmarks;

/// <summary>
/// Bytes data sync ships for a small change to a large dataset: N keys of order-like JSON documents are synced to a shadow,
/// then 1 % of them change (upserts, deletes and inserts), and the shadow is synced again three ways, each printed as a ratio
/// to the bytes of the changed records themselves (key, value, version, kind and time of each change):
/// differential from the watermark (the normal path), differential seeding by per-key hashes (the path when the watermark
/// is gone or the log was pruned past it), and a full copy. Shipped bytes count every request, digest and record
/// exchanged. Usage: data-sync [keys, default 100000] [changed share, default 0.01]
/// </summary>
internal static class DataSyncBytes
{
    public static async Task<int> RunAsync(string[] args)
    {
        var keys = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 100_000;
        var share = args.Length > 1 ? double.Parse(args[1], CultureInfo.InvariantCulture) : 0.01;
        var time = TimeProvider.System;
        var random = RandomSource.Seeded(7);
        var folder = Directory.CreateTempSubdirectory("data-sync-").FullName;
        try
        {
            using var store = new SqliteStateStore(Path.Combine(folder, "state.db"), time);
            const string production = "data/orders/";
            for (var start = 0; start < keys; start += 1000)
            {
                var batch = Enumerable.Range(start, Math.Min(1000, keys - start))
                    .Select(i => StateOperation.Upsert($"{production}order-{i:D7}", Order(i, random)))
                    .ToList();
                await store.TransactAsync(batch);
            }

            var sync = new DataSync(store, store, store, time);
            var watch = Stopwatch.StartNew();
            var seed = await sync.RunAsync("orders", "s1", TimeSpan.Zero);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"RESULT seeding an empty shadow with {keys} keys: {seed.ShippedBytes / 1e6:F1} MB shipped, {seed.Copied} copied, {watch.Elapsed.TotalSeconds:F1} s"));

            // 1 % changes: 80 % of them overwrite a key, 10 % delete one, 10 % add one.
            var changes = (int)(keys * share);
            var chosen = new HashSet<int>();
            while (chosen.Count < changes * 9 / 10)
            {
                chosen.Add(random.Next(keys));
            }

            var picked = chosen.ToArray();
            var deletes = changes / 10;
            var operations = new List<StateOperation>();
            for (var i = 0; i < picked.Length; i++)
            {
                var key = $"{production}order-{picked[i]:D7}";
                operations.Add(i < deletes ? StateOperation.Delete(key) : StateOperation.Upsert(key, Order(picked[i] + keys, random)));
            }

            for (var i = 0; i < changes - picked.Length; i++)
            {
                operations.Add(StateOperation.Upsert($"{production}order-{keys + i:D7}", Order(keys + i, random)));
            }

            await store.TransactAsync(operations);
            var mark = (await store.GetJsonAsync<SyncWatermark>(StateKeys.ShadowSync("orders", "s1")))!.Value.Sequence;
            var changed = (await store.ReadAsync(production, mark, int.MaxValue)).Changes;
            long changedBytes = changed.Sum(c => (long)c.WireSize);
            var listing = await store.ListAsync(production);
            long fullCopy = 0;
            foreach (var digest in listing.Entries)
            {
                fullCopy += Encoding.UTF8.GetByteCount(digest.Key) + (await store.GetAsync(digest.Key))!.Value.Length + DataChange.Overhead;
            }

            watch.Restart();
            var differential = await sync.RunAsync("orders", "s1", TimeSpan.Zero);
            var differentialSeconds = watch.Elapsed.TotalSeconds;
            await Verify(store, production);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"RESULT changed records: {changed.Count} ({changedBytes} bytes)"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"RESULT differential from the watermark: {differential.ShippedBytes} bytes shipped = {(double)differential.ShippedBytes / changedBytes:F3} x the changed records ({differential.Applied} applied, {differentialSeconds:F2} s)"));

            // The same change again, for the path without a usable watermark: seed by comparing per-key hashes.
            await store.TransactAsync(operations.Select(o => o is UpsertOperation u ? StateOperation.Upsert(u.Key, Order(2 * keys, random)) : o).ToList());
            await store.DeleteAsync(StateKeys.ShadowSync("orders", "s1"), etag: null);
            var before = (await store.ReadAsync(production, mark, int.MaxValue)).Changes.Where(c => c.Sequence > differential.Sequence).ToList();
            long changedAgain = before.GroupBy(c => c.Key).Sum(g => (long)g.Last().WireSize);
            watch.Restart();
            var hashed = await sync.RunAsync("orders", "s1", TimeSpan.Zero);
            await Verify(store, production);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"RESULT seeding by per-key hashes (watermark lost): {hashed.ShippedBytes} bytes shipped = {(double)hashed.ShippedBytes / changedAgain:F3} x the changed records ({hashed.Copied} copied, {hashed.Deleted} deleted, {watch.Elapsed.TotalSeconds:F2} s)"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"RESULT full copy: {fullCopy} bytes = {(double)fullCopy / changedBytes:F1} x the changed records"));
            return 0;
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>An order-like JSON document of about 250 bytes.</summary>
    private static byte[] Order(int i, IRandomSource random) => Encoding.UTF8.GetBytes(string.Create(
        CultureInfo.InvariantCulture,
        $$"""{"id":"order-{{i:D7}}","customer":"c{{random.Next(50_000):D6}}","status":"{{(random.Next(3) switch { 0 => "placed", 1 => "paid", _ => "shipped" })}}","items":[{"sku":"sku-{{random.Next(9_000):D4}}","quantity":{{1 + random.Next(5)}},"price":{{random.Next(20_000) / 100.0:F2}}}],"total":{{random.Next(50_000) / 100.0:F2}},"updatedAt":"2026-12-0{{1 + random.Next(2)}}T{{random.Next(24):D2}}:{{random.Next(60):D2}}:00Z"}"""));

    private static async Task Verify(SqliteStateStore store, string production)
    {
        var copy = StateKeys.ShadowData("orders", "s1");
        var left = await store.ListKeysAsync(production);
        var right = await store.ListKeysAsync(copy);
        if (!left.Select(k => k[production.Length..]).SequenceEqual(right.Select(k => k[copy.Length..])))
        {
            throw new InvalidOperationException("the shadow's keys differ from production's after the sync");
        }
    }
}
