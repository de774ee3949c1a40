namespace Bmcast.Images.Packs;

/// <summary>A pack or its index is damaged: the message says how. The store refuses it rather than guess.</summary>
public sealed class PackFormatException(string message) : Exception(message);
