using Bmcast.Machines.BareMetal;

namespace Bmcast.Tests.Machines;

/// <summary>The product's reading of the hypervisor's serial events (vmm/README.md, "Serial events"), as demo --bare-metal uses it.</summary>
public sealed class VmmEventParsingTests
{
    [Fact]
    public void An_event_after_other_console_output_gives_its_name_and_fields()
    {
        var e = VmmEvent.TryParse("\u001b[0mboot noise bmcast-vmm: event=progress present=12 chunks=1024 present_percent=1 on_demand_bytes=786432");

        Assert.NotNull(e);
        Assert.Equal("progress", e.Name);
        Assert.Equal(12, e.Number("present"));
        Assert.Equal(786432, e.Number("on_demand_bytes"));
        Assert.Equal(0, e.Number("background_bytes"));   // a key the hypervisor did not print
    }

    [Theory]
    [InlineData("BMCAST-READY mode=stay")]
    [InlineData("bmcast-vmm: exits total=5 hlt=2")]
    [InlineData("bmcast-vmm: event=")]
    [InlineData("bmcast-vmm: event=progress present")]
    [InlineData("bmcast-vmm: event=progress Present=1")]
    public void A_line_that_is_not_an_event_gives_none(string line) => Assert.Null(VmmEvent.TryParse(line));

    [Fact]
    public void A_chunk_map_reads_bit_c_mod_8_of_byte_c_div_8()
    {
        var e = VmmEvent.TryParse("bmcast-vmm: event=presence chunks=10 present_map=8102 written_map=0000")!;

        bool[] present = e.Map("present_map", 10);

        Assert.Equal([0, 7, 9], Enumerable.Range(0, 10).Where(c => present[c]));
        Assert.DoesNotContain(true, e.Map("written_map", 10));
        Assert.Throws<InvalidDataException>(() => e.Map("written_map", 17));
    }
}
