using Bmcast.Protocols.Nbd.Server;

namespace Bmcast.Tests.Nbd;

/// <summary>The bytes-in-flight budget: first come, first served, an oversized request alone, cancellation leaves the queue.</summary>
public sealed class ByteBudgetTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact(Timeout = 10_000)]
    public async Task Waiters_are_served_in_order_so_a_large_request_is_not_overtaken()
    {
        var budget = new ByteBudget(100);
        await budget.AcquireAsync(60, Ct);
        var large = budget.AcquireAsync(50, Ct).AsTask();
        var small = budget.AcquireAsync(10, Ct).AsTask(); // would fit now, but waits behind the large one
        await Task.Delay(50, Ct);
        Assert.False(large.IsCompleted);
        Assert.False(small.IsCompleted);

        budget.Release(60);
        await Task.WhenAll(large, small);
        Assert.Equal(60, budget.Held);
    }

    [Fact(Timeout = 10_000)]
    public async Task A_request_larger_than_the_limit_is_granted_alone()
    {
        var budget = new ByteBudget(100);
        await budget.AcquireAsync(10, Ct);
        var huge = budget.AcquireAsync(500, Ct).AsTask();
        await Task.Delay(50, Ct);
        Assert.False(huge.IsCompleted);
        budget.Release(10);
        await huge;
        Assert.Equal(500, budget.Held);
    }

    [Fact(Timeout = 10_000)]
    public async Task A_cancelled_waiter_leaves_the_queue_and_those_behind_it_go_on()
    {
        var budget = new ByteBudget(100);
        await budget.AcquireAsync(60, Ct);
        using var cancel = new CancellationTokenSource();
        var cancelled = budget.AcquireAsync(50, cancel.Token).AsTask();
        var behind = budget.AcquireAsync(30, Ct).AsTask();

        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled);
        await behind;
        Assert.Equal(90, budget.Held);
    }
}
